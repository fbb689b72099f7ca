//! The outbox worker: sends the actions the receiver stored, with timeouts, retries on the
//! configured schedule (±20 % jitter), `Retry-After` honoured, and a dead letter at the end.
//! Every attempt is recorded. A step function (`send_one`) does one action, so tests can drive
//! the worker deterministically; `run` loops it with a few concurrent senders, each host
//! taking at most its share of them (`hosts`), and none while a rate limit it answered lasts
//! (`pauses`).
//!
//! Why a lease: a row is marked `sending` with a lease before the request goes out. If the
//! process dies mid-send, the lease expires and the row is sent again — at least once, which
//! is the only promise a network allows; a crash before the 2xx cannot be told apart from a
//! lost request.

pub mod hosts;
mod pauses;

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use rand::RngExt;
use tokio_util::sync::CancellationToken;

use crate::actions::{self, ActionError, Credentials, Delivery, Endpoint};
use crate::app::AppState;
use crate::clock;
use crate::config::Upstreams;
use crate::providers::{ProviderOptions, ReplyCredentials};
use crate::service::Change;
use crate::store::outbox::{self, Attempt, OutboxRow};
use crate::store::webhooks::Standing;

/// What one step did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Sent (or failed) one action.
    Sent { id: String, outcome: &'static str },
    /// Nothing is due.
    Idle,
}

/// Claims the next due action and sends it.
pub async fn send_one(state: &AppState) -> anyhow::Result<Step> {
    send_one_until(state, &CancellationToken::new()).await
}

/// [`send_one`], giving up on recording a sent attempt once `stop` is cancelled.
async fn send_one_until(state: &AppState, stop: &CancellationToken) -> anyhow::Result<Step> {
    let now = clock::now_ms();
    let lease = now + (state.config.outbound_timeout_secs as i64 * 2 + 30) * 1000;
    // Held until this send is over: its host's share has one place fewer meanwhile.
    let claim = Arc::new(state.sending.claim());
    let claiming = Arc::clone(&claim);
    let unrecorded = state.sending.unrecorded();
    let Some(row) = state
        .store
        .write(move |db| {
            let row = outbox::claim_due(db, now, lease, &claiming.full(), &unrecorded)?;
            claiming.hold(row.as_ref().map(|r| r.host.as_str()));
            Ok(row)
        })
        .await
        .context("claim an action")?
    else {
        return Ok(Step::Idle);
    };

    let (attempt, thread_started, author, note) = match &row.remote_id {
        // The provider announced the post while its send was unanswered (a timeout): it is
        // there, and sending it again would post it twice.
        Some(remote_id) => (
            Attempt {
                started_at: now,
                latency_ms: 0,
                http_status: None,
                outcome: "delivered",
                error: None,
                remote_id: Some(remote_id.clone()),
                next_attempt_at: None,
                unanswered: false,
            },
            None,
            None,
            None,
        ),
        None => {
            let started = Instant::now();
            let result = match parse(&row).and_then(|d| opened(state, d)) {
                Ok(delivery) => {
                    match credentials(state, row.webhook_id.as_deref(), row.created_at).await {
                        Ok(creds) => actions::execute(&state.clients, &creds, &delivery).await,
                        Err(e) => Err(e),
                    }
                }
                Err(e) => Err(e),
            };
            let latency_ms = started.elapsed().as_millis() as i64;
            // Only what the host did counts: an answer, or none (not a refusal before sending).
            match &result {
                Ok(_) => claim.heard(&row.host, true),
                Err(e) if e.status.is_some() => claim.heard(&row.host, true),
                Err(e) if e.unanswered => claim.heard(&row.host, false),
                Err(_) => {}
            }
            let retry_delays = state.config.retry_delays().unwrap_or_default();
            // A rate limit holds for the host's other rows too: they wait out the wait it
            // names (naming none, the schedule's first delay) instead of each spending a
            // request to hear the same, and are not sent, failed or counted meanwhile.
            if let Err(e) = &result
                && e.rate_limited
            {
                let wait = e.retry_after.or_else(|| retry_delays.first().copied());
                state.sending.pause(&row.host, wait.unwrap_or_default());
            }
            let thread = result.as_ref().ok().and_then(|sent| sent.thread.clone());
            let author = result.as_ref().ok().and_then(|sent| sent.author.clone());
            let note = result.as_ref().ok().and_then(|sent| sent.note.clone());
            (
                judge(&retry_delays, &row, result, now, latency_ms),
                thread,
                author,
                note,
            )
        }
    };
    let outcome = attempt.outcome;
    let (id, event_id) = (row.id.clone(), row.event_id.clone());
    // A question that can never be posted gets no answer: its task fails now rather than
    // waiting out the reply timeout.
    let asked = (row.action == "ask").then(|| row.task_id.clone()).flatten();
    let unasked = asked.clone().filter(|_| outcome == "dead");
    let new_thread = question_thread(&row);
    // A question that started a GitLab discussion (asked about a commit note in none, where
    // every post starts one) is answered there: its task says what follows in it too.
    let discussion = thread_started.zip(asked.clone());
    let record = || {
        let (id, event_id, asked, unasked, attempt, new_thread, discussion, author) = (
            id.clone(),
            event_id.clone(),
            asked.clone(),
            unasked.clone(),
            attempt.clone(),
            new_thread.clone(),
            discussion.clone(),
            author.clone(),
        );
        state.store.write(move |db| {
            let now = clock::now_ms();
            let ended = outbox::finish(db, &id, &attempt, now)?;
            let status = ended.as_ref().map(|f| f.status.as_str());
            if let Some(author) = author.as_deref().filter(|_| status == Some("delivered")) {
                outbox::posted_by(db, &id, author)?;
            }
            if let (Some(task_id), Some(posted)) = (
                new_thread.as_ref().filter(|_| status == Some("delivered")),
                ended.as_ref().and_then(|f| f.remote_id.as_deref()),
            ) {
                crate::store::tasks::wait_on_thread(db, task_id, posted, now)?;
            }
            if let Some((thread, task_id)) =
                discussion.as_ref().filter(|_| status == Some("delivered"))
            {
                crate::store::tasks::speak_in_discussion(db, task_id, thread, now)?;
            }
            if let Some(task_id) = asked.as_ref().filter(|_| status == Some("delivered")) {
                crate::store::tasks::question_posted(db, task_id, now)?;
            }
            if let Some(task_id) = unasked.as_ref().filter(|_| status == Some("dead")) {
                let why = format!(
                    "{}: {}",
                    crate::store::tasks::QUESTION_NOT_POSTED,
                    attempt.error.as_deref().unwrap_or("the action is dead")
                );
                crate::store::tasks::fail_waiting(db, task_id, &why, now)?;
            }
            if let Some(event_id) = &event_id {
                crate::store::events::settle(db, event_id)?;
            }
            Ok(ended)
        })
    };
    // The request went out and its answer is known: losing its record would have it sent
    // again once the lease ends (a comment posted twice), so the record is tried until it is
    // written (a full disk freed, a lock let go), the lease kept renewed meanwhile.
    let renew_for = lease - now;
    let mut tries = 0u32;
    let mut passed_over = None;
    let ended = loop {
        let e = match record().await {
            Ok(ended) => break ended,
            Err(e) => e,
        };
        tries += 1;
        passed_over.get_or_insert_with(|| claim.unrecorded(&id));
        // A write the data itself refuses (a row gone, a broken invariant) fails the same
        // way every time: it is given up after a few tries, as before, so it cannot hold
        // a sender (and its host's share) for good.
        if !e.is_storage_trouble() && tries >= RECORD_TRIES_WHEN_REFUSED {
            return Err(anyhow::Error::new(e).context(format!(
                "the {outcome} attempt of action {id} could not be recorded; it is sent again \
                 once its lease ends"
            )));
        }
        if stop.is_cancelled() {
            return Err(anyhow::Error::new(e).context(format!(
                "stopping with the {outcome} attempt of action {id} not recorded; it is sent \
                 again once its lease ends"
            )));
        }
        if tries == 1 || tries.is_multiple_of(RECORD_LOG_EVERY) {
            tracing::warn!(action = %id, target = %crate::quote::one_line(&crate::actions::shown_target(&row.target)), outcome, tries, error = %e,
                "recording an attempt failed; its result is kept and recording tried again");
        }
        let renewing = id.clone();
        let renewed = state
            .store
            .write(move |db| outbox::renew_lease(db, &renewing, clock::now_ms() + renew_for))
            .await;
        if let Err(e) = renewed {
            tracing::debug!(action = %id, error = %e, "renewing the lease failed too");
        }
        tokio::select! {
            () = stop.cancelled() => {}
            () = tokio::time::sleep(record_backoff(tries)) => {}
        }
    };
    if tries > 0 {
        tracing::info!(action = %id, outcome, tries, "the attempt is recorded at last");
    }
    // Said of what the row became, which may not be what the send alone would make it: a
    // failure is not retried once its task or webhook is gone.
    let outcome = match ended.as_ref().map(|f| f.status.as_str()) {
        Some("delivered") => "delivered",
        Some("retrying") => "retry",
        Some(_) => "dead",
        // Taken over by another sender meanwhile (this one's lease ran out): as it was judged.
        None => outcome,
    };
    let not_retried = ended.as_ref().and_then(|f| f.not_retried.as_deref());
    // A target names the thread as the sender's event did (a Jira key, a repository): kept
    // to its line of the text log, as the error is.
    let shown = crate::actions::shown_target(&row.target);
    let target = crate::quote::one_line(&shown);
    let error = crate::quote::one_line(attempt.error.as_deref().unwrap_or_default());
    let webhook = row.webhook_id.as_deref().unwrap_or("-");
    let event = row.event_id.as_deref().unwrap_or("-");
    match (outcome, not_retried) {
        ("delivered", _) => match note.as_deref() {
            Some(note) => {
                let note = crate::quote::one_line(note);
                tracing::warn!(action = %row.id, %webhook, %event, %target, %note,
                    "action delivered, with a note")
            }
            None => {
                tracing::info!(action = %row.id, %webhook, %event, %target, "action delivered")
            }
        },
        ("retry", _) => {
            tracing::warn!(action = %row.id, %webhook, %event, %target, %error,
                "action failed; will retry")
        }
        (_, Some(why)) => {
            tracing::warn!(action = %row.id, %webhook, %event, %target, %error,
                "action failed and is not retried ({why}); dead-lettered")
        }
        _ => {
            tracing::warn!(action = %row.id, %webhook, %event, %target, %error,
                "action dead-lettered")
        }
    }
    if let (Some(webhook_id), Some(event_id)) = (row.webhook_id.clone(), row.event_id.clone()) {
        let _ = state.changes.send(Change::Event {
            webhook_id,
            event_id,
        });
    }
    Ok(Step::Sent {
        id: row.id,
        outcome,
    })
}

/// How many times a record the data refuses (not storage trouble) is tried.
const RECORD_TRIES_WHEN_REFUSED: u32 = 5;

/// How often (in tries) a record still failing is logged again, about once a minute.
const RECORD_LOG_EVERY: u32 = 12;

/// The wait before recording an attempt again: 250 ms, doubled each try, at most 5 s.
fn record_backoff(tries: u32) -> Duration {
    Duration::from_millis(250u64 << tries.saturating_sub(1).min(5)).min(Duration::from_secs(5))
}

/// Sends until nothing is due. For tests and for draining at startup.
pub async fn drain(state: &AppState) -> anyhow::Result<usize> {
    let mut sent = 0;
    while let Step::Sent { .. } = send_one(state).await? {
        sent += 1;
    }
    Ok(sent)
}

/// Runs `concurrency` senders until shutdown. Each finishes its current send first. A sender
/// that panics is replaced, so one bad row cannot stop delivery for all the others.
pub async fn run(state: AppState, shutdown: CancellationToken) {
    let mut senders = tokio::task::JoinSet::new();
    let start = |senders: &mut tokio::task::JoinSet<()>| {
        let (state, shutdown) = (state.clone(), shutdown.clone());
        senders.spawn(async move { sender_loop(state, shutdown).await });
    };
    for _ in 0..state.config.outbound_concurrency.max(1) {
        start(&mut senders);
    }
    while let Some(ended) = senders.join_next().await {
        if let Err(e) = ended
            && e.is_panic()
            && !shutdown.is_cancelled()
        {
            tracing::error!(error = %e, "an outbox sender panicked; starting another");
            start(&mut senders);
        }
    }
}

async fn sender_loop(state: AppState, shutdown: CancellationToken) {
    loop {
        if shutdown.is_cancelled() {
            return;
        }
        // Listening before looking, so an action queued while this looks is not missed.
        let woken = state.wake.notified();
        tokio::pin!(woken);
        woken.as_mut().enable();
        let wait = match send_one_until(&state, &shutdown).await {
            Ok(Step::Sent { .. }) => continue,
            Ok(Step::Idle) => until_next_due(&state).await,
            Err(e) => {
                tracing::error!(error = %format!("{e:#}"), "outbox step failed");
                // Not cut short by a wake: a claim that failed to store (a full disk) wakes the
                // idle senders as it is dropped, and each would fail and wake the others again,
                // a core spent on error lines until the disk had room.
                tokio::select! {
                    () = shutdown.cancelled() => return,
                    () = tokio::time::sleep(Duration::from_secs(1)) => continue,
                }
            }
        };
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = &mut woken => {},
            () = tokio::time::sleep(wait) => {},
        }
    }
}

/// How long to sleep: until the next row falls due, at most 30 s (a safety net: rows written
/// by another process sharing the database do not wake us). Rows of a host at its share are
/// not waited for: the end of one of its sends wakes the idle senders; those of a paused host
/// are, until its pause ends.
async fn until_next_due(state: &AppState) -> Duration {
    let (full, unrecorded) = (state.sending.full(), state.sending.unrecorded());
    let next = state
        .store
        .read(move |db| outbox::next_due_at(db, &full, &unrecorded))
        .await
        .ok()
        .flatten();
    let max = Duration::from_secs(30);
    let due = match next {
        Some(at) => {
            Duration::from_millis((at - clock::now_ms()).clamp(0, max.as_millis() as i64) as u64)
                .max(Duration::from_millis(50))
        }
        None => max,
    };
    // A paused host's rows are passed over above: they are looked at again when it resumes.
    match state.sending.next_resume() {
        Some(at) => due.min(
            at.saturating_duration_since(Instant::now())
                .max(Duration::from_millis(50)),
        ),
        None => due,
    }
}

/// A question posted as a new message in a Slack channel (asked about a slash command, which
/// has no thread) starts a thread of its own: its task, which waits for the reply there, under
/// the key a reply in that thread carries (`channel:ts`, as the post is named).
fn question_thread(row: &OutboxRow) -> Option<String> {
    if row.action != "ask" {
        return None;
    }
    let top_level = matches!(
        parse(row),
        Ok(Delivery::SlackMessage {
            thread_ts: None,
            ..
        })
    );
    row.task_id.clone().filter(|_| top_level)
}

fn parse(row: &OutboxRow) -> Result<Delivery, ActionError> {
    let json = row.delivery.as_deref().ok_or_else(|| {
        ActionError::permanent(
            row.last_error
                .clone()
                .unwrap_or_else(|| "action has nothing to send".into()),
        )
    })?;
    serde_json::from_str(json)
        .map_err(|e| ActionError::permanent(format!("stored action is unreadable: {e}")))
}

/// A forward's signing secret, and a target URL that is a credential itself, are stored
/// sealed (when a key is set) and opened only to send.
fn opened(state: &AppState, mut delivery: Delivery) -> Result<Delivery, ActionError> {
    if let Some(url) = delivery.target_url_mut() {
        *url = state
            .sealer
            .open(url)
            .map_err(|e| ActionError::permanent(format!("the target URL cannot be opened: {e}")))?;
    }
    if let Delivery::Forward {
        secret: Some(secret),
        ..
    } = &mut delivery
    {
        *secret = state.sealer.open(secret).map_err(|e| {
            ActionError::permanent(format!(
                "the forward's signing secret cannot be opened: {e}"
            ))
        })?;
    }
    if let Delivery::Forward { headers, .. } = &mut delivery {
        for (name, value) in headers.iter_mut() {
            *value = state.sealer.open(value).map_err(|e| {
                ActionError::permanent(format!(
                    "the forward's header `{name}` cannot be opened: {e}"
                ))
            })?;
        }
    }
    Ok(delivery)
}

/// Turns a send result into an attempt: delivered, retry at a time, or dead.
fn judge(
    schedule: &[Duration],
    row: &OutboxRow,
    result: Result<actions::Sent, ActionError>,
    now: i64,
    latency_ms: i64,
) -> Attempt {
    let base = Attempt {
        started_at: now,
        latency_ms,
        http_status: None,
        outcome: "dead",
        error: None,
        remote_id: None,
        next_attempt_at: None,
        unanswered: false,
    };
    match result {
        Ok(sent) => Attempt {
            http_status: Some(i64::from(sent.status)),
            outcome: "delivered",
            // Delivered, but the answer that would have named the post did not (its body cut
            // off by the timeout, or unreadable): the post's announcement can then be known
            // only by its words, as an attempt's that heard no answer is (`echo::is_own`),
            // or a command would answer the service's own comment.
            unanswered: sent.remote_id.is_none()
                && parse(row).is_ok_and(|d| d.named_in_its_answer()),
            remote_id: sent.remote_id,
            ..base
        },
        Err(e) => {
            let http_status = e.status.map(i64::from);
            // Only a post a provider announces can come back to be compared: a forward's
            // unanswered attempts would only swell that comparison.
            let base = Attempt {
                unanswered: e.unanswered && outbox::is_announced(&row.action),
                ..base
            };
            // `attempts` already counts this one: the first failure waits schedule[0].
            let delay = schedule.get((row.attempts.max(1) - 1) as usize);
            match (e.retryable, delay) {
                (true, Some(delay)) => {
                    // A target's own wait (`Retry-After`, a rate limit's reset) is the least
                    // one: a zero, past or short one would spend the schedule's attempts in
                    // seconds, against a limit that may last longer.
                    // A target's wait past a day is taken as a day (a year-long `Retry-After`
                    // would keep the action forever); the schedule's own delays are the
                    // operator's, kept as given.
                    let scheduled = jitter(*delay);
                    let wait = e.retry_after.map_or(scheduled, |after| {
                        after.min(Duration::from_secs(24 * 3600)).max(scheduled)
                    });
                    Attempt {
                        http_status,
                        outcome: "retry",
                        error: Some(e.message),
                        // From the answer (or the timeout), not from the start: a send that
                        // timed out has already used up a delay as long as its timeout.
                        next_attempt_at: Some(now + latency_ms + wait.as_millis() as i64),
                        ..base
                    }
                }
                (true, None) => Attempt {
                    http_status,
                    error: Some(format!(
                        "{} (gave up after {} attempt{})",
                        e.message,
                        row.attempts,
                        if row.attempts == 1 { "" } else { "s" }
                    )),
                    ..base
                },
                (false, _) => Attempt {
                    http_status,
                    error: Some(e.message),
                    ..base
                },
            }
        }
    }
}

/// ±20 %, so many actions failing together do not retry together.
fn jitter(d: Duration) -> Duration {
    let factor = rand::rng().random_range(0.8..=1.2);
    d.mul_f64(factor)
}

/// The global upstream settings, with the webhook's own credentials on top. URLs from a
/// webhook's options are user-given, so the SSRF guard checks them; the operator's are trusted.
/// Own credentials that cannot be read fail the attempt: falling back to the operator's would
/// act under the wrong identity.
pub async fn credentials(
    state: &AppState,
    webhook_id: Option<&str>,
    queued_at: i64,
) -> Result<Credentials, ActionError> {
    let Some(id) = webhook_id.map(str::to_string) else {
        return Ok(merge(&state.config.upstreams, ReplyCredentials::default()));
    };
    let webhook = state
        .store
        .read({
            let id = id.clone();
            move |db| crate::store::webhooks::get(db, &id)
        })
        .await
        .map_err(|e| {
            ActionError::retryable(format!("cannot read webhook {id}'s credentials: {e}"))
        })?;
    credentials_of(state, &id, webhook, queued_at)
}

/// The credentials for work queued at `queued_at` for webhook `id`, read as `webhook`.
pub fn credentials_of(
    state: &AppState,
    id: &str,
    webhook: Option<crate::store::webhooks::WebhookRow>,
    queued_at: i64,
) -> Result<Credentials, ActionError> {
    let own = own_credentials_of(state, id, webhook, queued_at)?;
    Ok(merge(&state.config.upstreams, own))
}

/// [`credentials_of`] before the operator's settings are merged in: the webhook's own.
pub fn own_credentials_of(
    state: &AppState,
    id: &str,
    webhook: Option<crate::store::webhooks::WebhookRow>,
    queued_at: i64,
) -> Result<ReplyCredentials, ActionError> {
    // Its own endpoint and token went with it; the operator's would reach a different host
    // (github.com for a GitHub Enterprise webhook) under the operator's identity. A webhook
    // created since at the same id may be another provider's, with another host and token.
    let webhook = match Standing::of(webhook, queued_at) {
        Standing::Current(webhook) => *webhook,
        Standing::Deleted => {
            return Err(ActionError::permanent(format!(
                "webhook {id} was deleted: nothing more is sent on its behalf"
            )));
        }
        Standing::Replaced => {
            return Err(ActionError::permanent(format!(
                "webhook {id} was deleted since this was queued: nothing more is sent on its \
                 behalf"
            )));
        }
    };
    let options: ProviderOptions = serde_json::from_str(&webhook.options).map_err(|e| {
        ActionError::permanent(format!("webhook {id}'s stored options are unreadable: {e}"))
    })?;
    let mut own = options.credentials.unwrap_or_default();
    state.sealer.try_open_credentials(&mut own).map_err(|e| {
        ActionError::permanent(format!(
            "webhook {id}'s stored credentials cannot be opened ({e}); is \
                 WEBHOOK_MCP_SECRET_KEY the key they were sealed with?"
        ))
    })?;
    Ok(own)
}

pub fn merge(global: &Upstreams, own: ReplyCredentials) -> Credentials {
    let trusted = |url: &str| Endpoint {
        url: url.to_string(),
        trusted: true,
    };
    let pick = |own: Option<String>, global: &str| match own {
        Some(url) => Endpoint {
            url,
            trusted: false,
        },
        None => trusted(global),
    };
    // The operator's token goes only to the operator's URL: a webhook that names its own
    // endpoint (any API caller can) brings its own token, or the action has none.
    let token = |own_url: &Option<String>, own: Option<String>, global: &Option<String>| {
        if own_url.is_some() {
            own
        } else {
            own.or_else(|| global.clone())
        }
    };
    let jira_own_site = own.jira_base_url.is_some();
    Credentials {
        github_token: token(&own.github_api_url, own.github_token, &global.github_token),
        github_api_url: pick(own.github_api_url, &global.github_api_url),
        gitlab_token: token(&own.gitlab_url, own.gitlab_token, &global.gitlab_token),
        gitlab_url: pick(own.gitlab_url, &global.gitlab_url),
        jira_base_url: match own.jira_base_url {
            Some(url) => Some(Endpoint {
                url,
                trusted: false,
            }),
            None => global.jira_base_url.as_deref().map(trusted),
        },
        jira_email: if jira_own_site {
            own.jira_email
        } else {
            own.jira_email.or_else(|| global.jira_email.clone())
        },
        jira_api_token: if jira_own_site {
            own.jira_api_token
        } else {
            own.jira_api_token.or_else(|| global.jira_api_token.clone())
        },
        slack_api_url: trusted(&global.slack_api_url),
        slack_bot_token: own
            .slack_bot_token
            .or_else(|| global.slack_bot_token.clone()),
        linear_api_url: trusted(&global.linear_api_url),
        linear_api_key: own.linear_api_key.or_else(|| global.linear_api_key.clone()),
        telegram_api_url: trusted(&global.telegram_api_url),
        telegram_bot_token: own
            .telegram_bot_token
            .or_else(|| global.telegram_bot_token.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(attempts: i64) -> OutboxRow {
        OutboxRow {
            id: "act_1".into(),
            event_id: Some("evt_1".into()),
            webhook_id: Some("w".into()),
            command_id: None,
            task_id: None,
            action: "comment".into(),
            delivery: None,
            target: "-".into(),
            host: String::new(),
            status: "sending".into(),
            attempts,
            next_attempt_at: 0,
            last_error: None,
            last_status: None,
            remote_id: None,
            created_at: 0,
            updated_at: 0,
            lease_until: None,
        }
    }

    fn err(retryable: bool, retry_after: Option<u64>) -> ActionError {
        ActionError {
            retryable,
            status: Some(500),
            retry_after: retry_after.map(Duration::from_secs),
            message: "boom".into(),
            unanswered: false,
            rate_limited: false,
        }
    }

    #[test]
    fn failures_follow_the_schedule_then_die() {
        let schedule = [Duration::from_secs(5), Duration::from_secs(300)];
        let first = judge(&schedule, &row(1), Err(err(true, None)), 0, 1);
        assert_eq!(first.outcome, "retry");
        let at = first.next_attempt_at.expect("retry time");
        assert!((4_000..=6_000).contains(&at), "{at}");
        let second = judge(&schedule, &row(2), Err(err(true, None)), 0, 1);
        assert!((240_000..=360_000).contains(&second.next_attempt_at.expect("retry time")));
        let third = judge(&schedule, &row(3), Err(err(true, None)), 0, 1);
        assert_eq!(third.outcome, "dead");
        assert!(
            third
                .error
                .expect("error")
                .contains("gave up after 3 attempts")
        );
    }

    #[test]
    fn a_longer_retry_after_wins_and_permanent_errors_die_at_once() {
        let schedule = [Duration::from_secs(5)];
        let limited = judge(&schedule, &row(1), Err(err(true, Some(42))), 1_000, 1);
        assert_eq!(limited.next_attempt_at, Some(43_001));
        // A send that timed out after 15 s waits its delay from then.
        let timed_out = judge(&schedule, &row(1), Err(err(true, Some(30))), 1_000, 15_000);
        assert_eq!(timed_out.next_attempt_at, Some(46_000));
        let gone = judge(&schedule, &row(1), Err(err(false, None)), 0, 1);
        assert_eq!(gone.outcome, "dead");
    }

    #[test]
    fn a_schedule_delay_over_a_day_is_kept_a_retry_after_over_a_day_is_cut_to_one() {
        const DAY_MS: i64 = 24 * 3600 * 1000;
        let schedule = [Duration::from_secs(2 * 24 * 3600)];
        let scheduled = judge(&schedule, &row(1), Err(err(true, None)), 0, 0);
        let at = scheduled.next_attempt_at.expect("retry time");
        assert!((DAY_MS * 8 / 5..=DAY_MS * 12 / 5).contains(&at), "{at}");
        let short = [Duration::from_secs(5)];
        let year = judge(&short, &row(1), Err(err(true, Some(365 * 86_400))), 0, 0);
        assert_eq!(year.next_attempt_at, Some(DAY_MS));
    }

    #[test]
    fn a_zero_or_short_retry_after_waits_the_schedule_instead() {
        let schedule = [Duration::from_secs(300)];
        for after in [0, 3] {
            let limited = judge(&schedule, &row(1), Err(err(true, Some(after))), 0, 1);
            let at = limited.next_attempt_at.expect("retry time");
            assert!(
                (240_000..=360_001).contains(&at),
                "Retry-After {after}: {at}"
            );
        }
    }
}
