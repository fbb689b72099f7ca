//! Whether an MCP session's client is still there: a session is in use while a request on it
//! is being answered or a stream of it (its GET stream, a POST's SSE answer) is open, and idle
//! from when the last of those ended. rmcp's own idle clock counts only messages, so a client
//! that only listens on its GET stream looked gone after 5 minutes and lost its session.
//!
//! Of those uses, the requests (a POST, until its answer is written) are counted apart: a
//! session closed while one is being answered would cut its answer off (rmcp's answer comes
//! through the session), though the call it answers was made. A session closed for its key's
//! revocation waits for them first ([`Uses::requests_ended`]).

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::header::CONTENT_TYPE;
use axum::response::Response;
use hyper::body::{Frame, SizeHint};

/// How long a session no client uses is kept, unless the config says otherwise.
pub const IDLE_LIMIT: Duration = Duration::from_secs(5 * 60);

/// Each session's uses under way, and since when it has had none.
#[derive(Default)]
pub struct Uses {
    uses: Mutex<HashMap<String, Use>>,
    /// Woken whenever a request's use ends.
    request_ended: tokio::sync::Notify,
}

struct Use {
    under_way: usize,
    /// Of those, the requests being answered.
    requests: usize,
    idle_since: Instant,
    /// Picked to be closed: no new use may start on it.
    closing: bool,
}

impl Use {
    fn new() -> Self {
        Use {
            under_way: 0,
            requests: 0,
            idle_since: Instant::now(),
            closing: false,
        }
    }
}

impl Uses {
    /// A session just opened: idle from now, as one whose client has not come back.
    pub fn opened(&self, session: &str) {
        self.lock()
            .entry(session.to_string())
            .or_insert_with(Use::new);
    }

    /// A use of `session` starts, a request (a POST, whose answer comes through the session)
    /// or not (a GET stream, a DELETE); it lasts until the returned guard is dropped. None:
    /// the session is being closed, and the request is answered as on a session that is gone.
    pub fn begin(self: &Arc<Self>, session: &str, request: bool) -> Option<InUse> {
        let mut uses = self.lock();
        let entry = uses.entry(session.to_string()).or_insert_with(Use::new);
        if entry.closing {
            return None;
        }
        entry.under_way += 1;
        entry.requests += usize::from(request);
        Some(InUse {
            uses: self.clone(),
            session: session.to_string(),
            request,
        })
    }

    /// Picks `session` to be closed: no new use may start on it. False when it was picked
    /// already (by the idle sweep, or an earlier revocation), which closes it then.
    pub fn claim(&self, session: &str) -> bool {
        let mut uses = self.lock();
        let entry = uses.entry(session.to_string()).or_insert_with(Use::new);
        !std::mem::replace(&mut entry.closing, true)
    }

    /// Resolves once no request on `session` is being answered (or it is forgotten), or after
    /// `limit` at the latest.
    pub async fn requests_ended(&self, session: &str, limit: Duration) {
        let waited = async {
            loop {
                // Made before the look, so an end in between is not missed.
                let ended = self.request_ended.notified();
                if self.lock().get(session).is_none_or(|u| u.requests == 0) {
                    return;
                }
                ended.await;
            }
        };
        if tokio::time::timeout(limit, waited).await.is_err() {
            tracing::warn!(
                session = %session,
                "closing an MCP session of a revoked key with a request still being answered"
            );
        }
    }

    /// The sessions with no use under way for at least `limit`, each marked closing in the
    /// same look, so that a request starting on one after it was picked is not cut off
    /// midway by its closing: it is turned away instead.
    pub fn claim_idle(&self, limit: Duration) -> Vec<String> {
        self.lock()
            .iter_mut()
            .filter(|(_, u)| !u.closing && u.under_way == 0 && u.idle_since.elapsed() >= limit)
            .map(|(session, u)| {
                u.closing = true;
                session.clone()
            })
            .collect()
    }

    /// How long `session` has had no use under way; `None` while one is (or it is unknown).
    pub fn idle_for(&self, session: &str) -> Option<Duration> {
        self.lock()
            .get(session)
            .filter(|u| u.under_way == 0)
            .map(|u| u.idle_since.elapsed())
    }

    /// Keeps only the sessions `live` says are still held.
    pub fn retain(&self, live: impl Fn(&str) -> bool) {
        self.lock().retain(|session, _| live(session));
    }

    pub fn forget(&self, session: &str) {
        self.lock().remove(session);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Use>> {
        self.uses.lock().expect("session uses poisoned")
    }
}

/// One use of a session under way; its end starts the session's idle time.
pub struct InUse {
    uses: Arc<Uses>,
    session: String,
    request: bool,
}

impl InUse {
    /// An SSE answer is a use for as long as it streams (hyper drops it when it ends or its
    /// client is gone); any other answer is done once written, so the use ends here.
    pub fn held_by(self, response: Response) -> Response {
        let streams = response
            .headers()
            .get(CONTENT_TYPE)
            .is_some_and(|t| t.as_bytes().starts_with(b"text/event-stream"));
        if !streams {
            return response;
        }
        response.map(|body| {
            Body::new(Streaming {
                body,
                _in_use: self,
            })
        })
    }
}

impl Drop for InUse {
    fn drop(&mut self) {
        // A session already forgotten (closed) stays forgotten.
        if let Some(entry) = self.uses.lock().get_mut(&self.session) {
            entry.under_way -= 1;
            entry.requests -= usize::from(self.request);
            entry.idle_since = Instant::now();
        }
        if self.request {
            self.uses.request_ended.notify_waiters();
        }
    }
}

/// A streamed answer that keeps its session in use until it is dropped.
struct Streaming {
    body: Body,
    _in_use: InUse,
}

impl hyper::body::Body for Streaming {
    type Data = <Body as hyper::body::Body>::Data;
    type Error = <Body as hyper::body::Body>::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_is_idle_only_once_every_use_has_ended() {
        let uses = Arc::new(Uses::default());
        let (stream, request) = (uses.begin("s", false), uses.begin("s", true));
        drop(request);
        assert!(uses.claim_idle(Duration::ZERO).is_empty(), "stream open");
        drop(stream);
        assert!(uses.claim_idle(Duration::from_secs(60)).is_empty());
        assert_eq!(uses.claim_idle(Duration::ZERO), vec!["s".to_string()]);
        // Picked once: a second sweep does not close it again.
        assert!(uses.claim_idle(Duration::ZERO).is_empty());
    }

    #[test]
    fn a_session_picked_to_close_takes_no_new_use() {
        let uses = Arc::new(Uses::default());
        uses.opened("s");
        assert_eq!(uses.claim_idle(Duration::ZERO), vec!["s".to_string()]);
        assert!(uses.begin("s", true).is_none());
    }

    #[test]
    fn a_use_ending_after_its_session_was_forgotten_brings_nothing_back() {
        let uses = Arc::new(Uses::default());
        let stream = uses.begin("s", false);
        uses.forget("s");
        drop(stream);
        assert!(uses.claim_idle(Duration::ZERO).is_empty());
    }

    #[tokio::test]
    async fn a_session_picked_for_closing_waits_for_its_requests_answers_not_its_streams() {
        let uses = Arc::new(Uses::default());
        let (_stream, request) = (uses.begin("s", false), uses.begin("s", true));
        assert!(uses.claim("s"));
        assert!(!uses.claim("s"), "picked once");
        assert!(
            uses.begin("s", true).is_none(),
            "no new request once picked"
        );

        let waiting = {
            let uses = uses.clone();
            tokio::spawn(async move { uses.requests_ended("s", Duration::from_secs(60)).await })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!waiting.is_finished(), "a request is still being answered");
        drop(request);
        tokio::time::timeout(Duration::from_secs(5), waiting)
            .await
            .expect("the wait ends with the request's answer, the stream still open")
            .unwrap();
        // One with nothing under way, or gone, is not waited for; a stuck one only so long.
        uses.requests_ended("gone", Duration::from_secs(60)).await;
        let _stuck = uses.begin("t", true);
        let started = Instant::now();
        uses.requests_ended("t", Duration::from_millis(50)).await;
        assert!(started.elapsed() < Duration::from_secs(5));
    }
}
