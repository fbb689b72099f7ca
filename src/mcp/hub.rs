//! Push: tells subscribed MCP clients when a resource changes (a new event on a webhook, an
//! event updated), so a live agent session need not poll. Two client kinds are served:
//! `subscriptions/listen` streams (protocol 2026-07-28) and legacy `resources/subscribe`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rmcp::model::ResourceUpdatedNotificationParam;
use rmcp::service::SubscriptionSink;
use rmcp::{Peer, RoleServer};
use tokio::sync::{Notify, broadcast};
use tokio_util::sync::CancellationToken;

use crate::service::Change;
use crate::service::auth::ApiKeys;

/// Most legacy subscriptions one session holds, as a `subscriptions/listen` takes at most
/// that many resources.
pub const MAX_SUBSCRIPTIONS_PER_SESSION: usize = 256;

/// How long a shutdown leaves ended listen streams to write their final result.
const FINAL_RESULT_HANDOFF: Duration = Duration::from_millis(100);

/// A legacy `resources/subscribe`: the session's peer, the resource, which session asked
/// (only it may unsubscribe), the API key it came with (a revoked key's stop) and the
/// session's feed, shared by all its subscriptions.
struct Subscription {
    peer: Peer<RoleServer>,
    uri: String,
    session: Option<String>,
    key_id: Option<String>,
    feed: Arc<Feed>,
}

/// A legacy session's updates not yet sent, and the stop of the task that sends them: like a
/// listen stream's, so a session whose stream is not read holds up only itself. Its writer
/// stops once the session's last subscription goes (this drops with it).
struct Feed {
    pending: Arc<Pending>,
    stop: CancellationToken,
}

impl Feed {
    /// Starts the writer that sends `peer` its session's updates, until the session's last
    /// subscription goes, the session ends or the server shuts down.
    fn start(peer: Peer<RoleServer>, closing: CancellationToken) -> Arc<Self> {
        let feed = Arc::new(Self {
            pending: Arc::default(),
            stop: CancellationToken::new(),
        });
        let pending = Arc::clone(&feed.pending);
        let stop = feed.stop.clone();
        tokio::spawn(async move {
            let ended = async {
                tokio::select! {
                    () = stop.cancelled() => {},
                    () = closing.cancelled() => {},
                }
            };
            tokio::select! {
                () = ended => {},
                () = send_updates(&peer, &pending) => {},
                () = session_gone(&peer) => {},
            }
        });
        feed
    }
}

/// How often a writer with nothing to send looks whether its session has ended.
const SESSION_CHECK: std::time::Duration = std::time::Duration::from_secs(2);

/// Ends once `peer`'s session has: ended by its client (DELETE) or closed idle, a session
/// says nothing to the hub, and a writer waiting for an update that may never come would keep
/// the session's peer until the next change or subscribe.
async fn session_gone(peer: &Peer<RoleServer>) {
    while !peer.is_transport_closed() {
        tokio::time::sleep(SESSION_CHECK).await;
    }
}

impl Drop for Feed {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// Sends `peer` each resource of `pending` that changed, until its session has ended.
async fn send_updates(peer: &Peer<RoleServer>, pending: &Pending) {
    loop {
        for uri in pending.take().await {
            let update = ResourceUpdatedNotificationParam::new(uri);
            // A send can fail with the session still open (a stream being replaced): that
            // update is lost, the next ones are not.
            if peer.notify_resource_updated(update).await.is_err() && peer.is_transport_closed() {
                return;
            }
        }
    }
}

/// A `subscriptions/listen` stream's updates not yet written to it: each resource once,
/// however often it changed meanwhile (an update only says "read it again"). The stream's own
/// handler writes them, so a client that reads slowly, or not at all, holds up its own stream
/// only: never the hub, nor what the other listeners hear.
#[derive(Default)]
pub struct Pending {
    uris: Mutex<Vec<String>>,
    ready: Notify,
}

impl Pending {
    fn push(&self, uri: &str) {
        let mut uris = self.uris.lock().expect("hub poisoned");
        if !uris.iter().any(|u| u == uri) {
            uris.push(uri.to_owned());
        }
        drop(uris);
        self.ready.notify_one();
    }

    /// The resources that changed since the last take, once there is one.
    pub async fn take(&self) -> Vec<String> {
        loop {
            let taken = std::mem::take(&mut *self.uris.lock().expect("hub poisoned"));
            if !taken.is_empty() {
                return taken;
            }
            self.ready.notified().await;
        }
    }
}

/// A listen stream: the resources it asked for, and its updates waiting to be written.
struct Listener {
    id: u64,
    wanted: Vec<String>,
    pending: Arc<Pending>,
}

#[derive(Default)]
pub struct Hub {
    next_id: AtomicU64,
    sinks: Mutex<Vec<Listener>>,
    peers: Mutex<Vec<Subscription>>,
    /// Cancelled when the server starts shutting down: listen streams then end with their
    /// final result, before the transport closes what is left.
    closing: CancellationToken,
}

impl Hub {
    /// Ends every `subscriptions/listen` stream with its final result (a client reads that as
    /// an end on purpose, where a dropped stream reads as a fault) and resolves once they have
    /// ended (or after `limit`) and had a moment to hand that result to the connection: a
    /// handler's return is not yet the result written, and closing the transport at once
    /// would drop it.
    pub async fn end_listeners(&self, limit: Duration) {
        let open = || !self.sinks.lock().expect("hub poisoned").is_empty();
        let had = open();
        self.closing.cancel();
        if !had {
            return;
        }
        let gone = async {
            while open() {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        };
        let _ = tokio::time::timeout(limit, gone).await;
        tokio::time::sleep(FINAL_RESULT_HANDOFF).await;
    }

    /// Resolves once the server has begun to shut down.
    pub async fn closing(&self) {
        self.closing.cancelled().await;
    }

    /// Registers a listen stream; its updates gather in the returned [`Pending`], for the
    /// stream's handler to write.
    pub fn add_sink(&self, sink: &SubscriptionSink) -> (u64, Arc<Pending>) {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let wanted = sink
            .accepted()
            .resource_subscriptions
            .clone()
            .unwrap_or_default();
        let pending = Arc::new(Pending::default());
        self.sinks.lock().expect("hub poisoned").push(Listener {
            id,
            wanted,
            pending: Arc::clone(&pending),
        });
        (id, pending)
    }

    pub fn remove_sink(&self, id: u64) {
        self.sinks
            .lock()
            .expect("hub poisoned")
            .retain(|l| l.id != id);
    }

    /// Adds a legacy subscription; refused past [`MAX_SUBSCRIPTIONS_PER_SESSION`].
    pub fn subscribe(
        &self,
        peer: Peer<RoleServer>,
        uri: String,
        session: Option<String>,
        key_id: Option<String>,
    ) -> Result<(), String> {
        let mut peers = self.peers.lock().expect("hub poisoned");
        // Those of sessions that have ended (deleted, or closed idle) go: a resource that never
        // changes again would otherwise keep them for the life of the process.
        peers.retain(|s| !s.peer.is_transport_closed());
        // Clients re-subscribe (on reconnect, on each view of a resource): a second entry
        // would send every update twice and grow for the session's life.
        if peers.iter().any(|s| s.uri == uri && s.session == session) {
            return Ok(());
        }
        let held = peers.iter().filter(|s| s.session == session).count();
        if held >= MAX_SUBSCRIPTIONS_PER_SESSION {
            return Err(format!(
                "this session holds {MAX_SUBSCRIPTIONS_PER_SESSION} subscriptions already, the \
                 most it may; unsubscribe from one it no longer needs first"
            ));
        }
        let feed = peers.iter().find(|s| s.session == session).map_or_else(
            || Feed::start(peer.clone(), self.closing.clone()),
            |s| Arc::clone(&s.feed),
        );
        peers.push(Subscription {
            peer,
            uri,
            session,
            key_id,
            feed,
        });
        Ok(())
    }

    /// Ends `session`'s subscription to `uri`; other sessions watching it keep theirs.
    pub fn unsubscribe(&self, uri: &str, session: Option<&str>) {
        self.peers
            .lock()
            .expect("hub poisoned")
            .retain(|s| !(s.uri == uri && s.session.as_deref() == session));
    }

    /// Forwards every change to the clients that asked for its resources, until shutdown.
    pub async fn run(
        &self,
        mut changes: broadcast::Receiver<Change>,
        keys: Arc<ApiKeys>,
        shutdown: CancellationToken,
    ) {
        loop {
            let change = tokio::select! {
                () = shutdown.cancelled() => return,
                change = changes.recv() => change,
            };
            match change {
                Ok(change) => self.notify(Some(&change.resource_uris()), &keys),
                // Fell behind a burst, so which resources changed is not known: every client
                // is told each resource it watches changed, and reads it again.
                Err(broadcast::error::RecvError::Lagged(_)) => self.notify(None, &keys),
                Err(broadcast::error::RecvError::Closed) => return,
            }
        }
    }

    /// Tells the listeners of `uris` (of every resource, for `None`) they changed. Only
    /// queues: each stream's and session's own writer sends, so none waits on another.
    fn notify(&self, uris: Option<&[String]>, keys: &ApiKeys) {
        let changed = |uri: &String| uris.is_none_or(|uris| uris.contains(uri));
        for listener in self.sinks.lock().expect("hub poisoned").iter() {
            for uri in listener.wanted.iter().filter(|u| changed(u)) {
                listener.pending.push(uri);
            }
        }
        let mut peers = self.peers.lock().expect("hub poisoned");
        // A revoked key's subscriptions end with it, and an ended session's.
        peers.retain(|s| keys.holds(s.key_id.as_deref()) && !s.peer.is_transport_closed());
        for subscription in peers.iter().filter(|s| changed(&s.uri)) {
            subscription.feed.pending.push(&subscription.uri);
        }
    }
}
