//! The stored secrets' keys at start: a start with values no given key opens is refused, and
//! values sealed with a key in `WEBHOOK_MCP_PREVIOUS_SECRET_KEYS` are opened and sealed again
//! with `WEBHOOK_MCP_SECRET_KEY` (or stored plain when that is unset), in one transaction,
//! before anything reads them; then values stored plain before the key was set are sealed.

use anyhow::Context;
use rusqlite::{Connection, OptionalExtension as _};
use serde_json::Value;

use super::sealing::{Sealer, key_bytes, looks_sealed};
use crate::config::Config;
use crate::store::{Store, StoreError};

/// The setting that names the previous keys, for messages.
pub const PREVIOUS: &str = "WEBHOOK_MCP_PREVIOUS_SECRET_KEYS";

/// Which process is starting, for what it may do to the stored secrets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// `serve`: it keeps the stored secrets under its key (seals, moves, and says which key).
    Owner,
    /// `stdio`, an MCP front end a client starts with whatever environment it gives, often
    /// beside a running `serve`: values sealed under a key that `serve` lacks would fail
    /// every delivery there, so it follows the key `serve` last started with.
    FrontEnd,
}

/// `meta` entry naming the key the stored secrets are kept under: `plain` for none, or
/// `sealed:<fingerprint>`. Written by each `serve` start, and by the first start of all when
/// that is a `stdio` (used without `serve`, or before it).
const KEY_MARK: &str = "secret_key";

/// The sealer of `WEBHOOK_MCP_SECRET_KEY`, once every stored secret opens with it: values
/// sealed with a previous key are moved to it first, and a start with values no given key
/// opens is refused (before anything is moved), naming their webhooks. A front end on a
/// database whose secrets are kept plain stores plain (and says so), one with another key
/// than they are kept under is refused, and it never moves values between keys; a `serve`
/// without a key on a database kept under one is refused unless it is given the key to move
/// its values off.
pub async fn start(store: &Store, config: &Config, role: Role) -> anyhow::Result<Sealer> {
    let given = Keys::new(config.secret_key.as_deref(), &config.previous_secret_keys)
        .map_err(anyhow::Error::msg)?;
    let mark = store
        .read(|db| {
            Ok(db
                .query_row("SELECT value FROM meta WHERE name = ?1", [KEY_MARK], |r| {
                    r.get::<_, String>(0)
                })
                .optional()?)
        })
        .await
        .context("read which key the stored secrets are kept under")?;
    let mine = given.fingerprint.as_deref().map(|f| format!("sealed:{f}"));
    let front_end = role == Role::FrontEnd;
    // A front end opens with its own key alone: moving values between keys is `serve`'s.
    let keys = if front_end {
        Keys {
            previous: Vec::new(),
            ..given.clone()
        }
    } else {
        given.clone()
    };
    match (role, mark.as_deref(), mine.as_deref()) {
        (Role::FrontEnd, Some("plain"), Some(_)) => {
            tracing::warn!(
                "WEBHOOK_MCP_SECRET_KEY is set here, but the stored secrets are kept plain \
                 (`serve` last started without a key): this process stores them plain too, as \
                 that `serve` could not read them otherwise. To seal them, stop every process \
                 and start `serve` with the key (see the README's Changing the secret key)"
            );
            return Ok(Sealer::default());
        }
        (Role::FrontEnd, Some(theirs), Some(mine)) if theirs != mine => anyhow::bail!(
            "WEBHOOK_MCP_SECRET_KEY is not the key the stored secrets are kept under (the one \
             `serve` last started with): give this process that key (moving to a new key is \
             done by stopping every process and starting `serve` with the new key, the old \
             one in {PREVIOUS})"
        ),
        // Nothing sealed may be stored yet, but what this process stored would stay plain
        // until `serve` next starts, on a database meant to keep its secrets sealed.
        (Role::FrontEnd, Some(theirs), None) if theirs != "plain" => anyhow::bail!(
            "WEBHOOK_MCP_SECRET_KEY is not set, but the stored secrets are kept under a key \
             (the one `serve` last started with): give this process that key, as an MCP \
             client's stdio entry passes only the environment it names"
        ),
        _ => {}
    }
    let unopenable = store
        .read({
            let keys = keys.clone();
            move |db| crate::service::webhooks::unopenable(db, &keys)
        })
        .await
        .context("check the stored secrets")?;
    if !unopenable.is_empty() {
        // The first few by name, and how many in all: a backlog of queued actions would
        // otherwise make one start error megabytes long.
        const NAMED: usize = 10;
        let more = match unopenable.len().saturating_sub(NAMED) {
            0 => String::new(),
            n => format!(" and {n} more ({} in all)", unopenable.len()),
        };
        anyhow::bail!(
            "stored secrets cannot be opened: {}{more}; start with the key they were sealed \
             with as WEBHOOK_MCP_SECRET_KEY, or, to move them to a new key, start `serve` \
             with that key in {}",
            unopenable[..unopenable.len().min(NAMED)].join(", "),
            PREVIOUS
        );
    }
    // Nothing sealed stands in the way yet (else it was named above), but a process started
    // with the key may be running, and would seal what this one could not open.
    let kept_under_a_key = mark.as_deref().is_some_and(|kept| kept != "plain");
    if role == Role::Owner && kept_under_a_key && mine.is_none() && !given.has_previous() {
        anyhow::bail!(
            "WEBHOOK_MCP_SECRET_KEY is not set, but the stored secrets are kept under a key (the \
             last start with one, perhaps a stdio process, set it): start with that key, or, to \
             store them plain from now on, with it in {PREVIOUS} and WEBHOOK_MCP_SECRET_KEY unset"
        );
    }
    if front_end && mark.is_some() {
        // The values stay as `serve` keeps them: sealing them is its start's job.
        return Ok(keys.current);
    }
    if !keys.current.is_on() {
        super::seal_plain::forget(store)
            .await
            .context("forget how far the outbox was sealed")?;
    }
    if keys.has_previous() {
        let moved = store
            .write({
                let keys = keys.clone();
                move |db| move_all(db, &keys)
            })
            .await
            .with_context(|| format!("move the stored secrets off {PREVIOUS}"))?;
        report(&keys, &moved);
    }
    let sealed = super::seal_plain::at_start(store, &keys.current)
        .await
        .context("seal the secrets stored before WEBHOOK_MCP_SECRET_KEY was set")?;
    if sealed.any() {
        tracing::info!(
            webhooks = sealed.webhooks,
            commands = sealed.commands,
            actions = sealed.actions,
            "secrets stored plain (before WEBHOOK_MCP_SECRET_KEY was set, or by a process \
             without it) were sealed with it: in {} webhook(s), {} command(s) and {} \
             action(s)",
            sealed.webhooks,
            sealed.commands,
            sealed.actions
        );
    }
    let now_kept = match &keys.fingerprint {
        Some(f) => format!("sealed:{f}"),
        None => "plain".to_string(),
    };
    store
        .write(move |db| {
            db.execute(
                "INSERT INTO meta (name, value) VALUES (?1, ?2)
                 ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                rusqlite::params![KEY_MARK, now_kept],
            )?;
            Ok(())
        })
        .await
        .context("note which key the stored secrets are kept under")?;
    Ok(keys.current)
}

/// The current key and the keys values may still be sealed with.
#[derive(Clone, Default)]
pub struct Keys {
    pub current: Sealer,
    previous: Vec<Sealer>,
    /// Names the current key without giving it away, to tell processes' keys apart.
    fingerprint: Option<String>,
}

impl Keys {
    /// From the two settings. A malformed previous key, or one equal to the current key (its
    /// values need no moving, and dropping it later would drop the current key), is refused.
    pub fn new(current: Option<&str>, previous: &[String]) -> Result<Keys, String> {
        let current_bytes = key_bytes(current.unwrap_or_default())
            .map_err(|e| format!("WEBHOOK_MCP_SECRET_KEY {e}"))?;
        let mut sealers = Vec::new();
        for (i, key) in previous.iter().enumerate() {
            // Keys are not echoed: the message goes to the log.
            let bytes = key_bytes(key)
                .map_err(|e| format!("{PREVIOUS}: key {} of {} {e}", i + 1, previous.len()))?;
            let Some(bytes) = bytes else { continue };
            if Some(bytes) == current_bytes {
                return Err(format!(
                    "{PREVIOUS}: key {} of {} is WEBHOOK_MCP_SECRET_KEY itself; list only the \
                     keys used before it",
                    i + 1,
                    previous.len()
                ));
            }
            sealers.push(Sealer::of(&bytes));
        }
        Ok(Keys {
            current: current_bytes.map(|b| Sealer::of(&b)).unwrap_or_default(),
            previous: sealers,
            fingerprint: current_bytes.map(|b| fingerprint(&b)),
        })
    }

    pub fn has_previous(&self) -> bool {
        !self.previous.is_empty()
    }

    /// Opens a stored value with whichever given key sealed it.
    pub fn open(&self, stored: &str) -> Result<String, String> {
        let first = self.current.open(stored);
        if first.is_ok() || self.previous.is_empty() {
            return first;
        }
        self.previous
            .iter()
            .find_map(|p| p.open(stored).ok())
            .ok_or_else(|| {
                format!(
                    "a sealed secret opens with neither WEBHOOK_MCP_SECRET_KEY nor a key in \
                     {PREVIOUS}"
                )
            })
    }

    /// The value to store in place of `stored`: `None` when it stays (plain, sealed with the
    /// current key, or opened by no key given).
    fn moved(&self, stored: &str) -> Option<String> {
        if !looks_sealed(stored) || self.current.open(stored).is_ok() {
            return None;
        }
        let plain = self.previous.iter().find_map(|p| p.open(stored).ok())?;
        // Stored plain, such a value would be read as a sealed one (such values are refused
        // as secrets, so only an old database could hold one).
        if !self.current.is_on() && looks_sealed(&plain) {
            return None;
        }
        Some(self.current.seal(&plain))
    }
}

/// A one-way name for a key: the start of a SHA-256 of it, set apart from other uses.
fn fingerprint(key: &[u8; 32]) -> String {
    use sha2::Digest as _;
    let digest = sha2::Sha256::new()
        .chain_update(b"webhook-mcp secret key fingerprint\0")
        .chain_update(key)
        .finalize();
    hex::encode(&digest[..8])
}

/// What a pass over the stored values did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Moved {
    /// Values opened with a previous key and stored again.
    pub moved: usize,
    /// Sealed values in queued actions that no given key opens (their sends fail; the
    /// webhooks' own values are checked before, and a start with one is refused).
    pub unopened: usize,
}

/// Every column that holds sealed values, whole or as strings inside its JSON.
const PLACES: [(&str, &str, Form); 5] = [
    ("webhooks", "secret", Form::Whole),
    // A rotated-out webhook secret, still verifying during its grace period.
    ("webhooks", "previous_secret", Form::Whole),
    // Reply credentials: `options.credentials`' tokens.
    ("webhooks", "options", Form::Json),
    // Forwards' signing secrets (`target.secret`) and headers' values (`target.headers`), and
    // target URLs that are credentials (`target.url`).
    ("commands", "target", Form::Json),
    // Queued (and past) forwards carry their signing secret and headers' values sealed, and
    // channel messages and forwards such a URL (`url`).
    ("outbox", "delivery", Form::Json),
];

#[derive(Clone, Copy, PartialEq, Eq)]
enum Form {
    Whole,
    Json,
}

/// Moves every value sealed with a previous key to the current one. Runs as one write, so a
/// crash part way leaves every value as it was.
pub fn move_all(conn: &Connection, keys: &Keys) -> Result<Moved, StoreError> {
    PLACES.iter().try_fold(Moved::default(), |mut sum, place| {
        let counted = move_column(conn, keys, *place)?;
        sum.moved += counted.moved;
        sum.unopened += counted.unopened;
        Ok(sum)
    })
}

fn move_column(
    conn: &Connection,
    keys: &Keys,
    (table, column, form): (&str, &str, Form),
) -> Result<Moved, StoreError> {
    let mut found = conn.prepare(&format!(
        "SELECT rowid, {column} FROM {table} WHERE {column} LIKE '%enc:v1:%'"
    ))?;
    let rows = found
        .query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)))?
        .collect::<Result<Vec<_>, _>>()?;
    let mut update = conn.prepare(&format!(
        "UPDATE {table} SET {column} = ?1 WHERE rowid = ?2"
    ))?;
    let mut counted = Moved::default();
    for (rowid, stored) in rows {
        let new = match form {
            Form::Whole => moved_whole(keys, &stored, &mut counted),
            Form::Json => moved_inside(keys, &stored, &mut counted),
        };
        if let Some(new) = new {
            update.execute(rusqlite::params![new, rowid])?;
        }
    }
    if table != "outbox" {
        // Counted only where nothing else says so: webhooks with such values refuse the start.
        counted.unopened = 0;
    }
    Ok(counted)
}

fn moved_whole(keys: &Keys, stored: &str, counted: &mut Moved) -> Option<String> {
    let new = keys.moved(stored);
    match &new {
        Some(_) => counted.moved += 1,
        None if keys.open(stored).is_err() => counted.unopened += 1,
        None => {}
    }
    new
}

/// The JSON with each sealed string in it moved, or `None` when none was.
fn moved_inside(keys: &Keys, stored: &str, counted: &mut Moved) -> Option<String> {
    let mut value: Value = serde_json::from_str(stored).ok()?;
    let before = counted.moved;
    walk(&mut value, &mut |s| {
        if looks_sealed(s) {
            moved_whole(keys, s, counted)
        } else {
            None
        }
    });
    (counted.moved > before).then(|| value.to_string())
}

/// Calls `on` with every string in `value`, replacing it with what `on` returns, if anything.
pub fn walk(value: &mut Value, on: &mut impl FnMut(&str) -> Option<String>) {
    match value {
        Value::String(s) => {
            if let Some(new) = on(s) {
                *s = new;
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| walk(v, on)),
        Value::Object(fields) => fields.values_mut().for_each(|v| walk(v, on)),
        _ => {}
    }
}

/// Says at start what the move did; values are never logged.
pub fn report(keys: &Keys, done: &Moved) {
    let into = if keys.current.is_on() {
        "sealed again with WEBHOOK_MCP_SECRET_KEY"
    } else {
        "stored plain (WEBHOOK_MCP_SECRET_KEY is unset)"
    };
    tracing::info!(
        moved = done.moved,
        "{} stored secret(s) sealed with a key in {PREVIOUS} were {into}; {PREVIOUS} can \
         now be removed",
        done.moved
    );
    if done.unopened > 0 {
        tracing::warn!(
            unopened = done.unopened,
            "{} queued action(s) hold a signing secret or target URL that no given key opens: \
             they fail when sent",
            done.unopened
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const K1: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
    const K2: &str = "1f1e1d1c1b1a191817161514131211100f0e0d0c0b0a09080706050403020100";

    fn keys(current: Option<&str>, previous: &[&str]) -> Result<Keys, String> {
        let previous: Vec<String> = previous.iter().map(|k| k.to_string()).collect();
        Keys::new(current, &previous)
    }

    #[test]
    fn previous_keys_that_are_malformed_or_the_current_key_are_refused() {
        use base64::Engine as _;
        let k2_base64 =
            base64::engine::general_purpose::STANDARD.encode(hex::decode(K2).expect("hex"));
        let cases = [
            (Some(K2), vec!["abc"], "key 1 of 1 must be 32 bytes"),
            (
                Some(K2),
                vec![K1, K2],
                "key 2 of 2 is WEBHOOK_MCP_SECRET_KEY",
            ),
            (
                Some(K2),
                vec![k2_base64.as_str()],
                "is WEBHOOK_MCP_SECRET_KEY",
            ),
            (Some("abc"), vec![K1], "WEBHOOK_MCP_SECRET_KEY must be"),
        ];
        for (current, previous, expected) in cases {
            let error = keys(current, &previous).err().unwrap_or_default();
            assert!(error.contains(expected), "{previous:?}: {error}");
            assert!(!error.contains(K2), "a key is echoed: {error}");
        }
        assert!(keys(Some(K2), &[K1, ""]).is_ok_and(|k| k.previous.len() == 1));
        assert!(keys(None, &[K1]).is_ok());
    }

    #[test]
    fn values_move_to_the_current_key_or_out_of_sealing_and_others_stay() {
        let k1 = Sealer::new(Some(K1)).expect("key");
        let k3 = Sealer::new(Some(&"ff".repeat(32))).expect("key");
        let rotating = keys(Some(K2), &[K1]).expect("keys");
        let opening = keys(None, &[K1]).expect("keys");
        let k2 = &rotating.current;

        let moved = rotating.moved(&k1.seal("s")).expect("moved");
        assert_eq!(k2.open(&moved).as_deref(), Ok("s"));
        assert_eq!(opening.moved(&k1.seal("s")).as_deref(), Some("s"));
        for stays in ["plain".to_string(), k2.seal("s"), k3.seal("s")] {
            assert_eq!(rotating.moved(&stays), None, "{stays}");
        }
        assert_eq!(opening.moved(&k1.seal("enc:v1:x")), None);
        assert!(rotating.open(&k1.seal("s")).is_ok());
        assert!(rotating.open(&k3.seal("s")).unwrap_err().contains(PREVIOUS));
    }

    #[test]
    fn sealed_strings_anywhere_in_json_move_and_the_rest_is_kept() {
        let k1 = Sealer::new(Some(K1)).expect("key");
        let rotating = keys(Some(K2), &[K1]).expect("keys");
        let stored = serde_json::json!({
            "credentials": {"github_token": k1.seal("ghp"), "github_api_url": "https://x"},
            "list": [k1.seal("a"), "enc:v1:not-really"],
        })
        .to_string();
        let mut counted = Moved::default();

        let moved = moved_inside(&rotating, &stored, &mut counted).expect("moved");

        let moved: Value = serde_json::from_str(&moved).expect("json");
        let open = |v: &Value| rotating.current.open(v.as_str().expect("string"));
        assert_eq!(
            open(&moved["credentials"]["github_token"]).as_deref(),
            Ok("ghp")
        );
        assert_eq!(open(&moved["list"][0]).as_deref(), Ok("a"));
        assert_eq!(moved["list"][1], "enc:v1:not-really");
        assert_eq!(moved["credentials"]["github_api_url"], "https://x");
        assert_eq!(
            counted,
            Moved {
                moved: 2,
                unopened: 1
            }
        );
        assert_eq!(moved_inside(&rotating, "{\"a\": 1}", &mut counted), None);
    }
}
