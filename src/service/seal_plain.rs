//! At start with `WEBHOOK_MCP_SECRET_KEY` set: the values saved plain before it was, or by a
//! process without it (webhook secrets, reply credentials, forwards' signing secrets and
//! headers' values, credential target URLs, in commands and in queued and past actions), are
//! sealed as a save would seal them, so turning encryption on covers what is already stored
//! and not only what is saved next.

use rusqlite::{Connection, OptionalExtension, params};

use super::sealing::Sealer;
use crate::actions::Delivery;
use crate::store::{Store, StoreError};

/// The `meta` fact holding the last outbox row a start with a key has looked at (`rowid id`):
/// the outbox keeps every action ever sent, so each start looks only at the rows added since.
/// Webhooks and commands are few and looked at whole on every such start, which also catches
/// what a process without the key, still running beside it, saved in the meantime.
const SEALED_THROUGH: &str = "outbox_sealed_through";

/// Outbox rows looked at per write: a forward holds its event's body, so a first pass over a
/// large outbox commits as it goes instead of holding it all in one transaction.
const PAGE: i64 = 256;

/// How many stored rows the pass sealed plain values in.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Sealed {
    pub webhooks: usize,
    pub commands: usize,
    pub actions: usize,
}

impl Sealed {
    pub fn any(&self) -> bool {
        self.webhooks + self.commands + self.actions > 0
    }
}

/// With a key: seals what is stored plain (webhooks and commands whole, the outbox from where
/// the last such start stopped). Without one there is nothing to do here; [`forget`] has run.
pub async fn at_start(store: &Store, sealer: &Sealer) -> Result<Sealed, StoreError> {
    if !sealer.is_on() {
        return Ok(Sealed::default());
    }
    let mut sealed = {
        let sealer = sealer.clone();
        store
            .write(move |db| {
                Ok(Sealed {
                    webhooks: webhooks(db, &sealer)?,
                    commands: commands(db, &sealer)?,
                    actions: 0,
                })
            })
            .await?
    };
    // Said before a pass over the whole outbox, which on a large one takes a while (each
    // forward holds its event's body) and would otherwise look like a hang.
    if store.read(whole_outbox_ahead).await? {
        tracing::info!(
            "sealing the secrets of every stored action (a first start with \
             WEBHOOK_MCP_SECRET_KEY); this may take a while on a large database"
        );
    }
    loop {
        let sealer = sealer.clone();
        let (done, more) = store.write(move |db| actions_page(db, &sealer)).await?;
        sealed.actions += done;
        if !more {
            return Ok(sealed);
        }
    }
}

/// For a start without the key, before it stores anything plain (its move of the values off a
/// previous key among them): the next start with one must look at the whole outbox again.
/// Done first, so a start cut off after its move still leaves the mark gone.
pub async fn forget(store: &Store) -> Result<(), StoreError> {
    let marked = store
        .read(|db| {
            let found = db
                .query_row(
                    "SELECT 1 FROM meta WHERE name = ?1",
                    [SEALED_THROUGH],
                    |_| Ok(()),
                )
                .optional()?;
            Ok(found.is_some())
        })
        .await?;
    if marked {
        store
            .write(|db| {
                db.execute("DELETE FROM meta WHERE name = ?1", [SEALED_THROUGH])?;
                Ok(())
            })
            .await?;
    }
    Ok(())
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
        let mut changed = false;
        if let Some(s) = sealer.seal_once(&secret) {
            secret = s;
            changed = true;
        }
        if let Some(s) = previous.as_deref().and_then(|p| sealer.seal_once(p)) {
            previous = Some(s);
            changed = true;
        }
        if let Some(s) = super::webhooks::sealed_options(sealer, &options) {
            options = s;
            changed = true;
        }
        if changed {
            update.execute(params![secret, previous, options, rowid])?;
            sealed += 1;
        }
    }
    Ok(sealed)
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

/// One page of the outbox rows past the mark, those that carry a signing secret or a
/// credential URL (forwards, commands' and agents', and channel messages, queued or past)
/// sealed, with the mark moved past it in the same write; how many rows it sealed, and whether
/// more may follow.
fn actions_page(db: &Connection, sealer: &Sealer) -> Result<(usize, bool), StoreError> {
    let after = resume_after(db)?;
    let rows = db
        .prepare(
            "SELECT rowid, id, CASE WHEN action IN ('forward', 'post_message') THEN delivery END
             FROM outbox WHERE rowid > ?1 ORDER BY rowid LIMIT ?2",
        )?
        .query_map(params![after, PAGE], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, Option<String>>(2)?,
            ))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    let Some((last, last_id, _)) = rows.last() else {
        return Ok((0, false));
    };
    let mut update = db.prepare("UPDATE outbox SET delivery = ?1 WHERE rowid = ?2")?;
    let mut sealed = 0;
    for (rowid, _, stored) in &rows {
        let Some(Ok(mut delivery)) = stored.as_deref().map(serde_json::from_str::<Delivery>) else {
            continue;
        };
        if seal_delivery(sealer, &mut delivery) {
            let json = serde_json::to_string(&delivery).expect("a delivery serialises");
            update.execute(params![json, rowid])?;
            sealed += 1;
        }
    }
    db.execute(
        "INSERT INTO meta (name, value) VALUES (?1, ?2)
         ON CONFLICT (name) DO UPDATE SET value = excluded.value",
        params![SEALED_THROUGH, format!("{last} {last_id}")],
    )?;
    Ok((sealed, rows.len() as i64 == PAGE))
}

/// Whether the pass looks at every action: there are some, and no earlier pass left a mark
/// among them (the first start with a key, or after a start without one).
fn whole_outbox_ahead(db: &Connection) -> Result<bool, StoreError> {
    let any: bool = db.query_row("SELECT EXISTS (SELECT 1 FROM outbox)", [], |r| r.get(0))?;
    Ok(any && resume_after(db)? == 0)
}

/// The rowid the last pass stopped at, kept with that row's id: a new row takes the highest
/// rowid plus one, so once the rows at the top are deleted (the retention sweep may delete the
/// newest) a later row can take a rowid at or below the mark, and a `VACUUM` may number the
/// rows anew. Unless the row at the mark is still the one it was, the pass starts over.
fn resume_after(db: &Connection) -> Result<i64, StoreError> {
    let mark: Option<String> = db
        .query_row(
            "SELECT value FROM meta WHERE name = ?1",
            [SEALED_THROUGH],
            |r| r.get(0),
        )
        .optional()?;
    let Some((rowid, id)) = mark.as_deref().and_then(|m| m.split_once(' ')) else {
        return Ok(0);
    };
    let Ok(rowid) = rowid.parse::<i64>() else {
        return Ok(0);
    };
    let still: Option<String> = db
        .query_row("SELECT id FROM outbox WHERE rowid = ?1", [rowid], |r| {
            r.get(0)
        })
        .optional()?;
    Ok(if still.as_deref() == Some(id) {
        rowid
    } else {
        0
    })
}

/// Seals a stored delivery's plain signing secret, headers' values and credential URL; whether
/// it did.
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
    if let Delivery::Forward { headers, .. } = delivery {
        for value in headers.values_mut() {
            if let Some(s) = sealer.seal_once(value) {
                *value = s;
                changed = true;
            }
        }
    }
    if let Some(url) = delivery.credential_url_mut()
        && let Some(s) = sealer.seal_once(url)
    {
        *url = s;
        changed = true;
    }
    changed
}

#[cfg(test)]
mod tests {
    use rusqlite::Connection;

    use super::*;

    #[test]
    fn only_a_pass_over_the_whole_outbox_is_announced() {
        // Arrange
        let mut db = Connection::open_in_memory().unwrap();
        crate::store::migrate(&mut db, std::path::Path::new(":memory:")).unwrap();
        let empty = whole_outbox_ahead(&db).unwrap();
        db.execute(
            "INSERT INTO outbox (id, action, target, status, next_attempt_at, created_at, \
             updated_at) VALUES ('act_1', 'comment', 'o/r#5', 'pending', 0, 0, 0)",
            [],
        )
        .unwrap();
        let first = whole_outbox_ahead(&db).unwrap();

        // Act: a pass looks at it and leaves its mark.
        actions_page(&db, &Sealer::default()).unwrap();

        // Assert: announced only when there are actions and no mark among them.
        assert_eq!(
            (empty, first, whole_outbox_ahead(&db).unwrap()),
            (false, true, false)
        );
    }
}
