//! Stateful MCP sessions (`--mcp-sessions`) belong to the API key that opened them: a request
//! naming a session with another key is answered as one naming no known session (`404`, as is
//! one naming a session rmcp does not hold), and revoking a key closes the sessions it opened,
//! which ends their GET streams. (A `subscriptions/listen` stream ends by itself, in
//! `McpServer::listen`; a session has no loop of ours to end it.) A request already being
//! answered on such a session is answered first: rmcp's answer to a POST comes through its
//! session, and a session closed under it ended the answer empty (a `200` with no message),
//! though the tool call it answered had been made. The revoked key opens nothing new
//! meanwhile, and the session takes no new request.
//! A client's DELETE that ends its session is answered `204`.
//!
//! A key may hold so many sessions open at once, and all keys together so many (see
//! [`Sessions::reserve`]): a client that opens sessions in a loop and never ends them would
//! otherwise hold memory until each had been idle for the idle limit.
//!
//! A session lives while its client is there (see [`super::session_use`]) and ends once no
//! request or stream has used it for the idle limit: rmcp's own idle clock is off, as it
//! took a client that only listens on its GET stream for one that is gone.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{SessionId, SessionManager};
use tokio_util::sync::CancellationToken;

use super::session_use::Uses;
use crate::service::auth::{ApiKeys, KeyInfo};

const SESSION_HEADER: &str = "mcp-session-id";

/// How long a session of a revoked key waits, at most, for the answers of the requests under
/// way on it before it is closed.
const ANSWERS_GRACE: Duration = Duration::from_secs(30);

/// rmcp's session manager and who opened each of its sessions.
pub struct Sessions {
    manager: Arc<LocalSessionManager>,
    keys: Arc<ApiKeys>,
    /// Whether rmcp keeps sessions (`--mcp-sessions`); without, it reads no session header.
    enabled: bool,
    /// Session id → the id of the key that opened it (`None`: the configured key, or no auth).
    opened_by: Mutex<HashMap<String, Option<String>>>,
    uses: Arc<Uses>,
    /// How long a session no request or stream uses is kept.
    idle_limit: Duration,
    /// Sessions being opened, per key: an `initialize` let through whose answer has not yet
    /// named its session. They count against the limits until then, so that many sent at
    /// once cannot all pass.
    opening: Mutex<HashMap<Option<String>, usize>>,
    /// The most sessions one key may hold open, and all keys together.
    per_key: usize,
    in_all: usize,
    /// Sessions rmcp holds that no answer named, seen at the last idle sweep: a client that
    /// hung up while its `initialize` was answered leaves one, which nothing else would end.
    unclaimed: Mutex<HashSet<String>>,
}

/// Why [`Sessions::reserve`] found no room for another session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Full {
    /// The key holds `most`, the most one key may; one of them is closed for want of use
    /// within `retry_after` at the latest, unless its client comes back to it first.
    Key { most: usize, retry_after: Duration },
    /// This many are open in all, the most the server keeps.
    All(usize),
}

/// A place for the session an `initialize` is opening, held from before rmcp opens it until
/// [`bind_to_key`] has noted it (or the request ended without one).
pub struct Opening {
    sessions: Arc<Sessions>,
    key_id: Option<String>,
}

impl Drop for Opening {
    fn drop(&mut self) {
        let mut opening = self.sessions.opening.lock().expect("sessions poisoned");
        if let Some(count) = opening.get_mut(&self.key_id) {
            *count -= 1;
            if *count == 0 {
                opening.remove(&self.key_id);
            }
        }
    }
}

impl Sessions {
    /// `limits`: the most sessions one key may hold open, and all keys together.
    pub fn new(
        keys: Arc<ApiKeys>,
        enabled: bool,
        idle_limit: Duration,
        limits: (usize, usize),
    ) -> Self {
        let mut manager = LocalSessionManager::default();
        // Sessions are ended here ([`Sessions::end_idle`]) instead: rmcp counts only messages
        // as activity, not a GET stream left open to hear notifications.
        manager.session_config.keep_alive = None;
        // No priming event ahead of each answer (see `mcp::http_service`).
        manager.session_config.sse_retry = None;
        Sessions {
            manager: Arc::new(manager),
            keys,
            enabled,
            opened_by: Mutex::default(),
            uses: Arc::default(),
            idle_limit,
            opening: Mutex::default(),
            per_key: limits.0,
            in_all: limits.1,
            unclaimed: Mutex::default(),
        }
    }

    /// A place for one more session of the key `key_id`, unless it holds as many as a key
    /// may, or as many are open in all as the server keeps.
    pub async fn reserve(self: &Arc<Self>, key_id: Option<String>) -> Result<Opening, Full> {
        let live = self.manager.sessions.read().await;
        let mut opened_by = self.opened_by.lock().expect("sessions poisoned");
        // Those rmcp ended since (a client's DELETE) no longer count.
        opened_by.retain(|id, _| live.contains_key(id.as_str()));
        let mut opening = self.opening.lock().expect("sessions poisoned");
        // rmcp's own count too: it also holds the sessions no answer named (see `unclaimed`).
        let open = (opened_by.len() + opening.values().sum::<usize>()).max(live.len());
        if open >= self.in_all {
            return Err(Full::All(self.in_all));
        }
        let held = opened_by.values().filter(|k| **k == key_id).count()
            + opening.get(&key_id).copied().unwrap_or(0);
        if held >= self.per_key {
            let sessions = opened_by.iter().filter(|(_, k)| **k == key_id);
            return Err(Full::Key {
                most: self.per_key,
                retry_after: self.first_closed(sessions.map(|(id, _)| id.as_str())),
            });
        }
        *opening.entry(key_id.clone()).or_default() += 1;
        Ok(Opening {
            sessions: self.clone(),
            key_id,
        })
    }

    /// How long until the first of `sessions` is closed for want of use, at the latest,
    /// if no client uses it meanwhile: the one idle longest reaches the idle limit, and the
    /// sweep after that closes it. One in use now is a whole idle limit away at least.
    fn first_closed<'a>(&self, sessions: impl Iterator<Item = &'a str>) -> Duration {
        let to_the_limit = sessions
            .filter_map(|id| self.uses.idle_for(id))
            .map(|idle| self.idle_limit.saturating_sub(idle))
            .min()
            .unwrap_or(self.idle_limit);
        to_the_limit + self.sweep_interval()
    }

    /// How often sessions are looked at to close the idle ones.
    fn sweep_interval(&self) -> Duration {
        (self.idle_limit / 4).max(Duration::from_millis(10))
    }

    /// How long a session no request or stream uses is kept.
    pub fn idle_limit(&self) -> Duration {
        self.idle_limit
    }

    /// The session manager the Streamable HTTP service is to use.
    pub fn manager(&self) -> Arc<LocalSessionManager> {
        self.manager.clone()
    }

    /// Whether the key `key_id` may use `session`. One not opened here is rmcp's to judge.
    fn admits(&self, session: &str, key_id: Option<&str>) -> bool {
        self.opened_by
            .lock()
            .expect("sessions poisoned")
            .get(session)
            .is_none_or(|opener| opener.as_deref() == key_id)
    }

    /// Whether rmcp holds `session` (opened, and not yet ended).
    async fn holds(&self, session: &str) -> bool {
        self.manager.sessions.read().await.contains_key(session)
    }

    async fn opened(&self, session: String, key_id: Option<String>) {
        let holds = self.keys.holds(key_id.as_deref());
        {
            // The sessions that ended since (a client's DELETE, rmcp's own closing) are
            // forgotten here, so the map stays as small as rmcp's.
            let live = self.manager.sessions.read().await;
            let mut opened_by = self.opened_by.lock().expect("sessions poisoned");
            opened_by.retain(|id, _| live.contains_key(id.as_str()));
            opened_by.insert(session.clone(), key_id);
        }
        self.uses.opened(&session);
        // Revoked while the session was being opened: that revocation's sweep came too early
        // to see it.
        if !holds {
            self.close(session).await;
        }
    }

    /// Closes the sessions opened with a key that no longer holds, each once the requests
    /// being answered on it have been (they take no new one from now on).
    fn close_revoked(self: &Arc<Self>) {
        let revoked: Vec<String> = self
            .opened_by
            .lock()
            .expect("sessions poisoned")
            .iter()
            .filter(|(_, key_id)| !self.keys.holds(key_id.as_deref()))
            .map(|(session, _)| session.clone())
            .collect();
        for session in revoked {
            // Picked already: an earlier revocation's close, or the idle sweep's, is on it.
            if !self.uses.claim(&session) {
                continue;
            }
            let sessions = self.clone();
            tokio::spawn(async move {
                sessions.uses.requests_ended(&session, ANSWERS_GRACE).await;
                sessions.close(session).await;
            });
        }
    }

    /// Closes the sessions no request or stream has used for the idle limit, and those no
    /// answer ever named.
    async fn close_idle(&self) {
        let orphans = {
            // Sessions rmcp ended (a client's DELETE) are forgotten.
            let live = self.manager.sessions.read().await;
            self.uses.retain(|id| live.contains_key(id));
            let mut opened_by = self.opened_by.lock().expect("sessions poisoned");
            opened_by.retain(|id, _| live.contains_key(id.as_str()));
            let mut unclaimed = self.unclaimed.lock().expect("sessions poisoned");
            let (orphans, still) = unnamed_sessions(
                live.keys().map(|id| id.to_string()),
                |id| opened_by.contains_key(id),
                &unclaimed,
            );
            *unclaimed = still;
            orphans
        };
        for session in orphans {
            tracing::info!(session = %session, "closing an MCP session whose opening was never answered");
            self.close(session).await;
        }
        for session in self.uses.claim_idle(self.idle_limit) {
            tracing::info!(session = %session, "closing an MCP session its client left");
            self.close(session).await;
        }
    }

    async fn close(&self, session: String) {
        let id = SessionId::from(session.clone());
        if let Err(e) = self.manager.close_session(&id).await {
            tracing::warn!(session = %id, error = %e, "closing an MCP session");
        }
        // Forgotten only once rmcp no longer holds it: until then another key is still
        // turned away from it.
        self.opened_by
            .lock()
            .expect("sessions poisoned")
            .remove(&session);
        self.uses.forget(&session);
    }

    /// At every revocation, closes the sessions of the keys revoked; until shutdown.
    pub async fn close_on_revocation(self: &Arc<Self>, shutdown: CancellationToken) {
        loop {
            // Made before the sweep, so a revocation during it wakes the next one.
            let revoked = self.keys.revocation();
            self.close_revoked();
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = revoked => {}
            }
        }
    }

    /// Closes the sessions whose clients are gone, a few times per idle limit; until
    /// shutdown.
    pub async fn end_idle(&self, shutdown: CancellationToken) {
        if !self.enabled {
            return;
        }
        let mut ticks = tokio::time::interval(self.sweep_interval());
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                _ = ticks.tick() => self.close_idle().await,
            }
        }
    }
}

/// Splits the sessions rmcp holds that were never noted as opened into those already seen so
/// at the sweep before (a whole sweep interval on, their answer is not on its way: its client
/// hung up, and they are to be closed) and those seen so for the first time (their answer may
/// be being written right now; kept for the next sweep).
fn unnamed_sessions(
    live: impl Iterator<Item = String>,
    noted: impl Fn(&str) -> bool,
    seen_before: &HashSet<String>,
) -> (Vec<String>, HashSet<String>) {
    let mut orphans = Vec::new();
    let mut still = HashSet::new();
    for id in live.filter(|id| !noted(id)) {
        if seen_before.contains(&id) {
            orphans.push(id);
        } else {
            still.insert(id);
        }
    }
    orphans.sort();
    (orphans, still)
}

/// Middleware on `/mcp`, inside the key check (whose [`KeyInfo`] it reads) and outside the
/// MCP gate: notes which key opened each session, turns away a request on a session rmcp does
/// not hold or on one with any other key before its body is read, and answers a session's end
/// with `204`. Both are turned away alike and before the gate's scope check: a read key's
/// refused tool call answered on a dead session but `404` on another key's live one would say
/// which ids are live.
pub async fn bind_to_key(
    State(sessions): State<Arc<Sessions>>,
    request: Request,
    next: Next,
) -> Response {
    let key_id = request
        .extensions()
        .get::<KeyInfo>()
        .and_then(|key| key.id.clone());
    if let Some(session) = session_of(request.headers()) {
        if !sessions.admits(&session, key_id.as_deref()) {
            return session_not_found();
        }
        let ending = request.method() == Method::DELETE;
        // The spec answers every request on a session the server does not hold 404. rmcp does
        // so itself only after the gate, and says yes to ending one; without sessions it reads
        // no session header, but a client that ends one learns there is none.
        if (sessions.enabled || ending) && !sessions.holds(&session).await {
            return session_not_found();
        }
        // A POST is a request, whose answer comes through the session.
        let request_sent = request.method() == Method::POST;
        let in_use = match sessions
            .enabled
            .then(|| sessions.uses.begin(&session, request_sent))
        {
            // Being closed for want of use: answered as the gone session it is about to be.
            Some(None) => return session_not_found(),
            Some(Some(in_use)) => Some(in_use),
            None => None,
        };
        let response = next.run(request).await;
        let response = match in_use {
            Some(in_use) => in_use.held_by(response),
            None => response,
        };
        return if ending && response.status().is_success() {
            session_ended()
        } else {
            response
        };
    }
    let mut request = request;
    if sessions.enabled {
        // For the gate, which reads the body: an `initialize` there takes a place first.
        request.extensions_mut().insert(sessions.clone());
    }
    let mut response = next.run(request).await;
    // Held until the session it stands for is noted below, so it is counted throughout.
    let _opening = response.extensions_mut().remove::<Arc<Opening>>();
    // rmcp names a new session in the answer to the `initialize` that opened it.
    if let Some(session) = session_of(response.headers()) {
        sessions.opened(session, key_id).await;
    }
    response
}

fn session_of(headers: &HeaderMap) -> Option<String> {
    headers
        .get(SESSION_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// A session ended by the client's DELETE: rmcp answers 202, which the Python SDK (as Open
/// WebUI bundles it) logs as a failed termination on every disconnect; it takes 200, 204 and
/// 405, and 204 says what happened.
fn session_ended() -> Response {
    Response::builder()
        .status(StatusCode::NO_CONTENT)
        .body(Body::empty())
        .expect("valid response")
}

/// rmcp's own answer to a session it does not know, rather than a 403: it tells a key that may
/// not use the session nothing of whether it exists, and clients know what to do with it (the
/// spec's "session ended": rmcp's client reports `SessionExpired`, or opens a new session,
/// now with its own key), where a 403 is only a failure.
fn session_not_found() -> Response {
    Response::builder()
        .status(StatusCode::NOT_FOUND)
        .body(Body::from("Not Found: Session not found"))
        .expect("valid response")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_no_answer_named_is_closed_at_the_second_sweep_that_sees_it() {
        let set = |ids: &[&str]| ids.iter().map(|s| s.to_string()).collect::<HashSet<_>>();
        let live = ["noted", "new", "hung-up"].map(String::from);
        let noted = |id: &str| id == "noted";

        let (orphans, still) = unnamed_sessions(live.clone().into_iter(), noted, &set(&[]));
        assert!(orphans.is_empty(), "{orphans:?}");
        assert_eq!(still, set(&["new", "hung-up"]));

        // A sweep later "new" was noted; "hung-up" never was; "gone" rmcp ended meanwhile.
        let live = ["noted", "new", "hung-up"].map(String::from);
        let noted = |id: &str| id == "noted" || id == "new";
        let (orphans, still) =
            unnamed_sessions(live.into_iter(), noted, &set(&["new", "hung-up", "gone"]));
        assert_eq!(orphans, ["hung-up"]);
        assert!(still.is_empty(), "{still:?}");
    }
}
