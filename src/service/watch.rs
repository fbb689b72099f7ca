//! For `stdio`: events stored by another process on the same database (the HTTP server that
//! receives them), told to this process's MCP subscribers as if stored here.

use std::collections::HashSet;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::Change;
use crate::app::AppState;

/// How often the database is looked at for new events.
const EVERY: Duration = Duration::from_secs(1);
/// How far back each look reaches: an event's id is made before its batch commits, so one
/// can become visible after a later one was already seen.
const LOOK_BACK_MS: i64 = 5_000;
/// Most events told of per look; the rest come at the next.
const BATCH: u32 = 500;

/// Tells of every event stored after it starts, until `stop`. Events this process stores are
/// told twice (once when stored): a subscriber re-reads a resource, which is harmless.
pub async fn run(state: AppState, stop: CancellationToken) {
    let mut from = crate::clock::now_ms();
    // The events told within the look-back, so that each is told once across looks.
    let mut told: HashSet<String> = HashSet::new();
    // After a full batch, the next look goes on from its last event, not back in time.
    let mut go_on_after: Option<String> = None;
    loop {
        if go_on_after.is_none() {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(EVERY) => {}
            }
        }
        let bound = go_on_after
            .take()
            .unwrap_or_else(|| id_at(from - LOOK_BACK_MS));
        let found = state
            .store
            .read(move |db| crate::store::events::stored_after(db, &bound, BATCH))
            .await;
        let events = match found {
            Ok(events) => events,
            Err(e) => {
                tracing::debug!(error = %e, "looking for new events failed; trying again");
                continue;
            }
        };
        if events.len() == BATCH as usize {
            go_on_after = events.last().map(|(id, _)| id.clone());
        }
        for (event_id, webhook_id) in events {
            if let Some(at) = time_of(&event_id) {
                from = from.max(at);
            }
            if told.insert(event_id.clone()) {
                // Nobody listening is fine.
                let _ = state.changes.send(Change::Event {
                    webhook_id,
                    event_id,
                });
            }
        }
        told.retain(|id| time_of(id).is_some_and(|at| at >= from - LOOK_BACK_MS));
    }
}

/// The smallest event id made at `ms` (ids are `evt_` and a UUIDv7, whose first 48 bits are
/// the time in milliseconds).
fn id_at(ms: i64) -> String {
    format!("evt_{:012x}{}", ms.max(0), "0".repeat(20))
}

/// The time an event id was made at.
fn time_of(id: &str) -> Option<i64> {
    i64::from_str_radix(id.strip_prefix("evt_")?.get(..12)?, 16).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_bound_by_time_as_they_sort() {
        let (id, ms) = crate::service::new_id_at("evt");
        assert_eq!(time_of(&id), Some(ms));
        assert!(id_at(ms).as_str() <= id.as_str());
        assert!(id_at(ms + 1).as_str() > id.as_str());
    }
}
