//! Scheduled commands fire on their clock: when a tick of a command's `schedule` is due, an
//! event of type `schedule` is recorded on its webhook with that command's work planned, in
//! the one write a delivery takes ([`super::record::record`]).
//!
//! Each tick fires once: its event's delivery id is the command's id and the tick's time, so
//! the store's (webhook, delivery id) dedup turns a second try (a restart at the same minute,
//! a second process on the database) into a duplicate that plans nothing. After downtime only
//! the latest tick is fired, and only within [`CATCH_UP`] of its time; older ones are logged as
//! missed, never replayed one after another. A tick at or before the command's (or its
//! webhook's) last change is not fired: a command made at 09:10 for `0 9 * * *` first fires
//! the next day, and one enabled again does not fire what fell while it was off.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use super::ServiceError;
use super::hooks::Hook;
use crate::app::AppState;
use crate::clock;
use crate::engine::plan::Planned;
use crate::engine::schedule::{EVENT_TYPE, Schedule};
use crate::engine::{CompiledCommand, template};
use crate::providers::Provider;
use crate::store::commands::{self as rows, CommandRow};
use crate::store::events::{self, Inserted, NewEvent};

/// How late a tick may still fire, after the server was down (or busy) at its time: an hour,
/// so a restart or deploy around 09:00 still sends the 09:00 report, while a report due in the
/// morning is not sent at night. Later ticks are logged as missed.
pub const CATCH_UP: i64 = 60 * 60 * 1000;

/// The longest the scheduler sleeps between looks: a command added or changed is seen
/// within this, and a tick fires at most this late.
const POLL: Duration = Duration::from_secs(5);

/// The `verification` of a tick's event: made here, from no sender.
pub const VERIFICATION: &str = "schedule";

/// The delivery id of a command's tick: one per command and time.
pub fn delivery_id(command_id: &str, due: i64) -> String {
    format!("schedule:{command_id}:{}", clock::rfc3339(due))
}

/// The payload of the event a tick records, which the command's template reads
/// (`{{ scheduled_for }}`, `{{ previous_scheduled_for }}`).
pub fn payload(row: &CommandRow, schedule: &Schedule, due: i64, fired_at: i64) -> Value {
    json!({
        "schedule": schedule.expression(),
        "timezone": schedule.zone_name(),
        "scheduled_for": clock::rfc3339(due),
        "scheduled_for_local": schedule.local_time(due),
        "previous_scheduled_for": schedule.previous_before(due).map(clock::rfc3339),
        "fired_at": clock::rfc3339(fired_at),
        "webhook_id": row.webhook_id,
        "command_id": row.id,
    })
}

/// Renders a scheduled command's template over the payload its ticks carry, as it is saved:
/// that payload is known field for field, so a name it lacks (`{{ issue.title }}`) would fail
/// every tick, and is refused now, naming what there is.
pub fn check_template(hook_provider: &str, row: &CommandRow) -> Result<(), ServiceError> {
    let (Some(source), Some(expression)) = (row.template.as_deref(), row.schedule.as_deref())
    else {
        return Ok(());
    };
    let Ok(schedule) = Schedule::parse(expression, row.timezone.as_deref()) else {
        return Ok(());
    };
    let now = clock::now_ms();
    let due = schedule.next_after(now).unwrap_or(now);
    let payload = Arc::new(payload(row, &schedule, due, due));
    let webhook = json!({"id": row.webhook_id, "name": "", "provider": hook_provider});
    let delivery = json!({"id": "evt_preview", "type": EVENT_TYPE, "provider": hook_provider,
        "received_at": clock::rfc3339(due), "source": null});
    let context = template::context(&payload, delivery, webhook);
    template::render(source, &context).map(drop).map_err(|e| {
        ServiceError::invalid(
            "template",
            format!(
                "the template does not render over a scheduled tick's payload: {e}. A scheduled \
                 command has no event of a sender: its template reads `scheduled_for`, \
                 `scheduled_for_local`, `previous_scheduled_for`, `fired_at`, `schedule`, \
                 `timezone`, `command_id`, `webhook_id`, and `webhook.name`"
            ),
        )
    })
}

/// What one look at a command's schedule did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tick {
    /// The tick's event was recorded now, with the command's work.
    Fired {
        command_id: String,
        event_id: String,
        due: i64,
    },
    /// Its event was stored already (by this process before a restart, or another one).
    Duplicate {
        command_id: String,
        event_id: String,
        due: i64,
    },
    /// The latest tick came more than [`CATCH_UP`] ago and never fired: skipped.
    Missed { command_id: String, due: i64 },
}

/// The scheduler's memory: the latest tick each command has settled (fired, found fired, or
/// skipped), so that a look does not write again for it. Lost on restart, when the store's
/// dedup answers instead.
#[derive(Debug, Default)]
pub struct Scheduler {
    settled: HashMap<String, i64>,
}

impl Scheduler {
    /// Fires every scheduled command whose latest tick at `now` (unix ms) is due and unsettled.
    /// Tests call it with the time they choose; [`run`] with the clock's.
    pub async fn step(&mut self, state: &AppState, now: i64) -> Result<Vec<Tick>, ServiceError> {
        let scheduled = state.store.read(rows::scheduled).await?;
        self.settled
            .retain(|id, _| scheduled.iter().any(|r| &r.id == id));
        let mut ticks = Vec::new();
        for row in scheduled.iter().filter(|r| r.enabled) {
            match self.look(state, row, now).await {
                Ok(Some(tick)) => ticks.push(tick),
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(command = %row.id, error = %e, "a scheduled command could not fire; tried again shortly");
                }
            }
        }
        Ok(ticks)
    }

    async fn look(
        &mut self,
        state: &AppState,
        row: &CommandRow,
        now: i64,
    ) -> Result<Option<Tick>, ServiceError> {
        let Some(expression) = row.schedule.as_deref() else {
            return Ok(None);
        };
        // One that no longer reads (stored by another version) is listed with a warning.
        let Ok(schedule) = Schedule::parse(expression, row.timezone.as_deref()) else {
            return Ok(None);
        };
        let Some(due) = schedule.latest_at_or_before(now) else {
            return Ok(None);
        };
        if self.settled.get(&row.id) == Some(&due) {
            return Ok(None);
        }
        let Some(hook) = state
            .hooks
            .get(&state.store, &state.sealer, &row.webhook_id)
            .await?
        else {
            return Ok(None);
        };
        // A disabled webhook fires nothing; enabled again, its floor below has moved.
        if !hook.row.enabled {
            return Ok(None);
        }
        let (Some(command), Some(compiled)) = (
            hook.commands.iter().find(|c| c.id == row.id),
            hook.compiled.iter().find(|c| c.id == row.id),
        ) else {
            // Changed or removed since it was read: the next look reads it again.
            return Ok(None);
        };
        if compiled.schedule.is_none() || due <= command.updated_at.max(hook.row.updated_at) {
            self.settled.insert(row.id.clone(), due);
            return Ok(None);
        }
        let id = delivery_id(&row.id, due);
        if now - due > CATCH_UP {
            let (w, d) = (row.webhook_id.clone(), id.clone());
            let stored = state
                .store
                .read(move |db| events::with_delivery_id(db, &w, &d))
                .await?;
            self.settled.insert(row.id.clone(), due);
            if stored.is_some() {
                return Ok(None);
            }
            tracing::warn!(command = %row.id, webhook = %row.webhook_id,
                scheduled_for = %clock::rfc3339(due),
                "a scheduled tick was missed (the server was not running then) and is more than \
                 an hour old: skipped; the next fires on time");
            return Ok(Some(Tick::Missed {
                command_id: row.id.clone(),
                due,
            }));
        }
        let firing = Firing::OnTime(id);
        let Some(inserted) = fire(state, &hook, command, compiled, &schedule, due, firing).await?
        else {
            return Ok(None);
        };
        self.settled.insert(row.id.clone(), due);
        let command_id = row.id.clone();
        Ok(Some(match inserted {
            Inserted::New(event_id) => {
                let late = now - due;
                tracing::info!(command = %command_id, webhook = %row.webhook_id, event = %event_id,
                    scheduled_for = %clock::rfc3339(due), late_ms = late, "scheduled command fired");
                Tick::Fired {
                    command_id,
                    event_id,
                    due,
                }
            }
            Inserted::Duplicate(event_id) => Tick::Duplicate {
                command_id,
                event_id,
                due,
            },
        }))
    }
}

/// Why a tick's event is recorded.
enum Firing {
    /// Its time came: under the tick's delivery id ([`delivery_id`]), which fires it once.
    OnTime(String),
    /// Asked for now (test_webhook's `run_actions`): the work queued, the clock's ticks left
    /// as they were.
    RunNow,
    /// Asked for a preview: stored as a `test`, nothing planned or queued.
    DryRun,
}

/// Records the tick's event and its command's work in one write; `None` when the command or
/// its webhook went (or the command was disabled) since they were read.
async fn fire(
    state: &AppState,
    hook: &Hook,
    command: &CommandRow,
    compiled: &CompiledCommand,
    schedule: &Schedule,
    due: i64,
    firing: Firing,
) -> Result<Option<Inserted>, ServiceError> {
    let Ok(provider) = hook.row.provider.parse::<Provider>() else {
        return Ok(None);
    };
    let (event_id, fired_at) = super::new_id_at("evt");
    let payload = Arc::new(payload(command, schedule, due, fired_at));
    let body = Bytes::from(serde_json::to_vec(&*payload).expect("JSON serialises"));
    let dry_run = matches!(firing, Firing::DryRun);
    let (delivery_id, headers) = match firing {
        Firing::OnTime(id) => (Some(id), "{}".to_string()),
        // Asked for by a person or model: the log says it was a test, as a test delivery's
        // does, and its own delivery id keeps it from taking the clock's tick of this time.
        Firing::RunNow => (
            Some(format!(
                "schedule:{}:run:{}",
                command.id,
                clock::rfc3339(fired_at)
            )),
            json!({"user-agent": super::testing::TEST_AGENT}).to_string(),
        ),
        Firing::DryRun => (
            None,
            json!({"user-agent": super::testing::TEST_AGENT}).to_string(),
        ),
    };
    let fired: &[&CompiledCommand] = if dry_run { &[] } else { &[compiled] };
    let planned = super::planning::plan_fired(
        &hook.row,
        &hook.commands,
        fired,
        &super::planning::EventFacts {
            id: &event_id,
            provider,
            event_type: EVENT_TYPE,
            received_at: fired_at,
            payload: &payload,
            source: None,
            body: &body,
            hops: 0,
        },
    );
    let event = NewEvent {
        id: event_id,
        webhook_id: hook.row.id.clone(),
        provider: provider.as_str().to_string(),
        event_type: Some(EVENT_TYPE.into()),
        delivery_id,
        verified: true,
        verification: VERIFICATION.into(),
        status: if dry_run { "test" } else { "matched" }.into(),
        source_kind: None,
        source_key: None,
        source: None,
        headers,
        content_type: Some("application/json".into()),
        body,
        matched_commands: serde_json::to_string(&[&command.id]).expect("ids serialise"),
        remote_addr: None,
        received_at: fired_at,
        truncated: None,
    };
    let queues_task = planned.iter().any(|p| matches!(p, Planned::Task { .. }));
    let (sealer, own_apis) = (Arc::clone(&state.sealer), hook.own_apis.clone());
    let (webhook_made, webhook_id, command_id) =
        (hook.row.created_at, hook.row.id.clone(), command.id.clone());
    let recorded = state
        .store
        .write(move |db| {
            // Removed or disabled since the webhook was read: it does not fire (a preview
            // of a disabled one is still shown).
            if !rows::get(db, &webhook_id, &command_id)?.is_some_and(|c| c.enabled || dry_run) {
                return Ok(None);
            }
            super::record::record(
                db,
                &sealer,
                &event,
                webhook_made,
                &planned,
                &own_apis,
                None,
                None,
                None,
            )
            .map(Some)
        })
        .await?;
    let Some(Ok(recorded)) = recorded else {
        state.hooks.invalidate(&hook.row.id);
        return Ok(None);
    };
    if recorded.actions > 0 {
        state.wake_workers();
    }
    if let Inserted::New(event_id) = &recorded.inserted {
        if queues_task {
            state.wake_runner();
        }
        let _ = state.changes.send(super::Change::Event {
            webhook_id: hook.row.id.clone(),
            event_id: event_id.clone(),
        });
    }
    Ok(Some(recorded.inserted))
}

/// A scheduled command's tick at this moment, asked for by test_webhook: previewed (stored as
/// a `test`, nothing queued) or run now, its work queued. It is a tick in every other way
/// (`scheduled_for` is now, `previous_scheduled_for` the clock's latest), so what it sends is
/// what the next tick will; the clock's own ticks fire as before. Also says whether the
/// command is enabled (a preview of a disabled one is still made).
pub async fn fire_now(
    state: &AppState,
    webhook_id: &str,
    command_id: &str,
    dry_run: bool,
) -> Result<(Inserted, bool), ServiceError> {
    let hook = state
        .hooks
        .get(&state.store, &state.sealer, webhook_id)
        .await?
        .ok_or_else(|| ServiceError::NotFound {
            what: "webhook",
            id: webhook_id.to_string(),
        })?;
    let Some(command) = hook.commands.iter().find(|c| c.id == command_id) else {
        let missing = ServiceError::NotFound {
            what: "command",
            id: command_id.to_string(),
        };
        return Err(
            super::commands::on_another_webhook(state, webhook_id, command_id, missing).await,
        );
    };
    let Some(expression) = command.schedule.as_deref() else {
        return Err(ServiceError::invalid(
            "command_id",
            format!(
                "command `{command_id}` fires on `{}` events, not on a schedule: test it with an \
                 event_type it matches, without command_id",
                command.trigger
            ),
        ));
    };
    if !command.enabled && !dry_run {
        return Err(ServiceError::invalid(
            "command_id",
            format!(
                "command `{command_id}` is disabled: enable it (enabled: true) to run it, or \
                 leave run_actions out to preview what it would send"
            ),
        ));
    }
    let unreadable = |e: String| {
        ServiceError::invalid(
            "command_id",
            format!("command `{command_id}` does not run in this version: {e}"),
        )
    };
    let schedule = Schedule::parse(expression, command.timezone.as_deref())
        .map_err(|e| unreadable(e.to_string()))?;
    let compiled = super::commands::compile(command).map_err(|e| unreadable(e.to_string()))?;
    let firing = if dry_run {
        Firing::DryRun
    } else {
        Firing::RunNow
    };
    fire(
        state,
        &hook,
        command,
        &compiled,
        &schedule,
        clock::now_ms(),
        firing,
    )
    .await?
    .map(|inserted| (inserted, command.enabled))
    .ok_or_else(|| {
        state.hooks.invalidate(webhook_id);
        ServiceError::Conflict(format!(
            "command `{command_id}` was removed or disabled while it was being run; \
                 nothing was stored"
        ))
    })
}

/// Fires scheduled commands until `stop`: looks every few seconds ([`POLL`]), and at once at
/// start, which fires a tick missed while the server was down if it is recent enough.
pub async fn run(state: AppState, stop: CancellationToken) {
    let mut scheduler = Scheduler::default();
    loop {
        if let Err(e) = scheduler.step(&state, clock::now_ms()).await {
            tracing::warn!(error = %e, "the scheduler could not read the scheduled commands");
        }
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(POLL) => {}
        }
    }
}
