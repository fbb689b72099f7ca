//! At start, once `WEBHOOK_MCP_SECRET_KEY` is set: the values saved plain before it was (webhook
//! secrets, reply credentials, forwards' signing secrets, credential target URLs, in commands
//! and in queued and past actions) are sealed in one pass, as a save would seal them, so
//! turning encryption on covers what is already stored and not only what is saved next.

use rusqlite::{Connection, OptionalExtension, params};

use super::sealing::Sealer;
use crate::actions::Delivery;
use crate::providers::ProviderOptions;
use crate::store::{Store, StoreError};

/// The fact in `meta` saying every value was sealed by a start with a key: later starts with a
/// key skip the pass (new values are sealed when saved), and a start without one removes it,
/// since what it then saves is plain.
const DONE: &str = "plain_values_sealed";

/// Seals what is stored plain when a key is set and no start with a key has since the last
/// start without one; forgets that it did when no key is set. Returns how many values it
/// sealed.
pub async fn at_start(store: &Store, sealer: &Sealer) -> Result<usize, StoreError> {
    let done = store.read(marked).await?;
    match (sealer.is_on(), done) {
        (true, false) => {
            let sealer = sealer.clone();
            store.write(move |db| seal_all(db, &sealer)).await
        }
        (false, true) => {
            store
                .write(|db| {
                    db.execute("DELETE FROM meta WHERE name = ?1", [DONE])?;
                    Ok(0)
                })
                .await
        }
        _ => Ok(0),
    }
}

fn marked(db: &Connection) -> Result<bool, StoreError> {
    let found = db
        .query_row("SELECT 1 FROM meta WHERE name = ?1", [DONE], |_| Ok(()))
        .optional()?;
    Ok(found.is_some())
}

/// Seals every plain value that a save would seal, and marks the pass done, in one write: a
/// crash part way leaves everything as it was, to be done at the next start.
pub fn seal_all(db: &Connection, sealer: &Sealer) -> Result<usize, StoreError> {
    let sealed = webhooks(db, sealer)? + commands(db, sealer)? + actions(db, sealer)?;
    db.execute(
        "INSERT INTO meta (name, value) VALUES (?1, '1') ON CONFLICT (name) DO NOTHING",
        [DONE],
    )?;
    Ok(sealed)
}

fn webhooks(db: &Connection, sealer: &Sealer) -> Result<usize, StoreError> {
    let rows = db
        .prepare("SELECT rowid, secret, previous_secret, options FROM webhooks")?
        .query_map([], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, Option<String>>(2)?,
                r.get::<_, String>(3)?,
            ))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    let mut update = db.prepare(
        "UPDATE webhooks SET secret = ?1, previous_secret = ?2, options = ?3 WHERE rowid = ?4",
    )?;
    let mut sealed = 0;
    for (rowid, mut secret, mut previous, mut options) in rows {
        let before = sealed;
        if let Some(s) = sealer.seal_once(&secret) {
            secret = s;
            sealed += 1;
        }
        if let Some(s) = previous.as_deref().and_then(|p| sealer.seal_once(p)) {
            previous = Some(s);
            sealed += 1;
        }
        if let Some(s) = sealed_options(sealer, &options) {
            options = s;
            sealed += 1;
        }
        if sealed > before {
            update.execute(params![secret, previous, options, rowid])?;
        }
    }
    Ok(sealed)
}

/// A webhook's options with their plain reply credentials sealed, `None` when none is plain.
fn sealed_options(sealer: &Sealer, stored: &str) -> Option<String> {
    let mut options = serde_json::from_str::<ProviderOptions>(stored).ok()?;
    let creds = options.credentials.as_mut()?;
    let plain = creds
        .secret_fields_mut()
        .into_iter()
        .any(|f| f.as_deref().is_some_and(|v| sealer.seal_once(v).is_some()));
    if !plain {
        return None;
    }
    sealer.seal_credentials(creds);
    serde_json::to_string(&options).ok()
}

fn commands(db: &Connection, sealer: &Sealer) -> Result<usize, StoreError> {
    let rows = db
        .prepare("SELECT rowid, action, target FROM commands WHERE target IS NOT NULL")?
        .query_map([], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
            ))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    let mut update = db.prepare("UPDATE commands SET target = ?1 WHERE rowid = ?2")?;
    let mut sealed = 0;
    for (rowid, action, target) in rows {
        if let Some(new) = super::commands::sealed_target_json(sealer, &action, &target) {
            update.execute(params![new, rowid])?;
            sealed += 1;
        }
    }
    Ok(sealed)
}

/// Actions that carry a signing secret or a credential URL: forwards (commands' and agents')
/// and channel messages, queued or past. Read a page at a time, since a forward holds the
/// event's body.
fn actions(db: &Connection, sealer: &Sealer) -> Result<usize, StoreError> {
    let mut page = db.prepare(
        "SELECT rowid, delivery FROM outbox
         WHERE rowid > ?1 AND action IN ('forward', 'post_message') AND delivery IS NOT NULL
         ORDER BY rowid LIMIT 64",
    )?;
    let mut update = db.prepare("UPDATE outbox SET delivery = ?1 WHERE rowid = ?2")?;
    let (mut sealed, mut after) = (0, 0_i64);
    loop {
        let rows = page
            .query_map([after], |r| {
                Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        let Some((last, _)) = rows.last() else {
            return Ok(sealed);
        };
        after = *last;
        for (rowid, stored) in rows {
            let Ok(mut delivery) = serde_json::from_str::<Delivery>(&stored) else {
                continue;
            };
            if seal_delivery(sealer, &mut delivery) {
                let json = serde_json::to_string(&delivery).expect("a delivery serialises");
                update.execute(params![json, rowid])?;
                sealed += 1;
            }
        }
    }
}

/// Seals a stored delivery's plain signing secret and credential URL; whether it did.
fn seal_delivery(sealer: &Sealer, delivery: &mut Delivery) -> bool {
    let mut changed = false;
    if let Delivery::Forward {
        secret: Some(secret),
        ..
    } = delivery
        && let Some(s) = sealer.seal_once(secret)
    {
        *secret = s;
        changed = true;
    }
    if let Some(url) = delivery.credential_url_mut()
        && let Some(s) = sealer.seal_once(url)
    {
        *url = s;
        changed = true;
    }
    changed
}
