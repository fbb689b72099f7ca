//! For `stdio`: events stored by another process on the same database (the HTTP server that
//! receives them), told to this process's MCP subscribers as if stored here.

use std::collections::HashSet;
use std::time::Duration;

use tokio::sync::broadcast;

use tokio_util::sync::CancellationToken;

use super::Change;
use crate::app::AppState;
use crate::store::events;

/// How often the database is looked at for new events.
const EVERY: Duration = Duration::from_secs(1);
/// Most events read per look; after a full one the next look follows at once.
const BATCH: u32 = 500;

/// Most ids of events this process told of itself kept to pass over; past it they are
/// forgotten (such an event is then told twice, which a subscriber takes as one more re-read).
const OWN_KEPT: usize = 10_000;

/// Tells of every event committed after it starts, until `stop`. Events this process stores
/// were told of when stored: they are passed over, or a subscriber would read each twice.
pub async fn run(state: AppState, stop: CancellationToken) {
    let mut told = state.changes.subscribe();
    let mut own: HashSet<String> = HashSet::new();
    // Events are followed by row number, which grows in commit order: an event whose id
    // was made long before its commit (a stalled disk) is still told when it commits.
    let mut after = loop {
        match state.store.read(events::last_row).await {
            Ok(row) => break row,
            Err(e) => {
                tracing::debug!(error = %e, "reading the last event failed; trying again");
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = tokio::time::sleep(EVERY) => {}
                }
            }
        }
    };
    let mut full = false;
    loop {
        if !full {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(EVERY) => {}
            }
        }
        let found = state
            .store
            .read(move |db| events::committed_after(db, after, BATCH))
            .await;
        let found = match found {
            Ok(found) => found,
            Err(e) => {
                tracing::debug!(error = %e, "looking for new events failed; trying again");
                full = false;
                continue;
            }
        };
        full = found.len() == BATCH as usize;
        // What this process told of itself so far (its own stores, and this loop's tellings,
        // which are never found again).
        loop {
            match told.try_recv() {
                Ok(Change::Event { event_id, .. }) => {
                    if own.len() >= OWN_KEPT {
                        own.clear();
                    }
                    own.insert(event_id);
                }
                Err(broadcast::error::TryRecvError::Lagged(_)) => continue,
                Err(_) => break,
            }
        }
        for event in found {
            after = event.row;
            if !event.refused && !own.remove(&event.id) {
                // Nobody listening is fine.
                let _ = state.changes.send(Change::Event {
                    webhook_id: event.webhook_id,
                    event_id: event.id,
                });
            }
        }
    }
}
