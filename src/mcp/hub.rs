//! Push: tells subscribed MCP clients when a resource changes (a new event on a webhook, an
//! event updated), so a live agent session need not poll. Two client kinds are served:
//! `subscriptions/listen` streams (protocol 2026-07-28) and legacy `resources/subscribe`.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use rmcp::model::ResourceUpdatedNotificationParam;
use rmcp::service::SubscriptionSink;
use rmcp::{Peer, RoleServer};
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use crate::service::Change;

#[derive(Default)]
pub struct Hub {
    next_id: AtomicU64,
    sinks: Mutex<Vec<(u64, SubscriptionSink)>>,
    peers: Mutex<Vec<(Peer<RoleServer>, String)>>,
}

impl Hub {
    pub fn add_sink(&self, sink: SubscriptionSink) -> u64 {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        self.sinks.lock().expect("hub poisoned").push((id, sink));
        id
    }

    pub fn remove_sink(&self, id: u64) {
        self.sinks
            .lock()
            .expect("hub poisoned")
            .retain(|(i, _)| *i != id);
    }

    pub fn subscribe(&self, peer: Peer<RoleServer>, uri: String) {
        self.peers.lock().expect("hub poisoned").push((peer, uri));
    }

    pub fn unsubscribe(&self, uri: &str) {
        self.peers
            .lock()
            .expect("hub poisoned")
            .retain(|(_, u)| u != uri);
    }

    /// Forwards every change to the clients that asked for its resources, until shutdown.
    pub async fn run(&self, mut changes: broadcast::Receiver<Change>, shutdown: CancellationToken) {
        loop {
            let change = tokio::select! {
                () = shutdown.cancelled() => return,
                change = changes.recv() => change,
            };
            match change {
                Ok(change) => self.notify(&change.resource_uris()).await,
                // Fell behind a burst: clients re-read the lists they watch.
                Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(broadcast::error::RecvError::Closed) => return,
            }
        }
    }

    async fn notify(&self, uris: &[String]) {
        let sinks: Vec<(u64, SubscriptionSink)> = self.sinks.lock().expect("hub poisoned").clone();
        for (id, sink) in sinks {
            for uri in uris {
                let wanted = sink
                    .accepted()
                    .resource_subscriptions
                    .as_ref()
                    .is_some_and(|list| list.iter().any(|u| u == uri));
                if wanted && sink.notify_resource_updated(uri.clone()).await.is_err() {
                    self.remove_sink(id);
                }
            }
        }
        let peers: Vec<(Peer<RoleServer>, String)> = self
            .peers
            .lock()
            .expect("hub poisoned")
            .iter()
            .filter(|(_, u)| uris.contains(u))
            .cloned()
            .collect();
        for (peer, uri) in peers {
            let sent = peer
                .notify_resource_updated(ResourceUpdatedNotificationParam::new(uri.clone()))
                .await;
            if sent.is_err() {
                // The session is gone; forget it.
                self.peers
                    .lock()
                    .expect("hub poisoned")
                    .retain(|(p, u)| !(u == &uri && p.is_transport_closed()));
            }
        }
    }
}
