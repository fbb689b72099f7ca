//! API keys for `/api` and `/mcp`. Only SHA-256 hashes are kept: the keys are long random
//! strings, so a fast hash is enough and a stolen database holds no usable key.
//!
//! Keys are named and scoped: `admin` keys may do everything, `read` keys only look (GET on
//! `/api`, the read-only MCP methods and `list_*`/`get_*` tools; see `http::auth`). The
//! hashes live in memory, keyed by hash, and are reloaded from the database after every
//! create and revoke, so a revoked key stops working as soon as the revocation is answered.
//! Another process on the same database (a second `serve`) creates and revokes keys too:
//! [`ApiKeys::follow`] looks at a cheap mark of the table every second (a change counter,
//! one row read by its primary key, however many keys were ever revoked) and reloads when it
//! moved, so such a change holds here within a second, without a read per request.
//! The configured `WEBHOOK_MCP_API_KEY` is an admin key named after the variable; it is never
//! stored.

use std::collections::{HashMap, HashSet};
use std::sync::{Mutex, RwLock};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio_util::sync::CancellationToken;

use super::ServiceError;
use crate::app::AppState;
use crate::clock;
use crate::store::api_keys::{self, KeyRow, Marker, NewKey, Revoked};
use crate::store::{Store, StoreError};

/// The name the configured key goes by (in the audit log, for instance).
pub const CONFIGURED_KEY_NAME: &str = "WEBHOOK_MCP_API_KEY";
/// The name of the key generated on first start.
pub const GENERATED_KEY_NAME: &str = "generated on first start";
/// `last_used_at` is written at most this often per key.
const TOUCH_EVERY_MS: i64 = 60_000;
/// How often the database is asked whether another process created or revoked a key: the
/// longest a key revoked there still works here.
const FOLLOW_EVERY: Duration = Duration::from_secs(1);

/// What a key may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// Everything.
    Admin,
    /// Look only: list and read.
    Read,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Admin => "admin",
            Scope::Read => "read",
        }
    }

    pub fn parse(s: &str) -> Option<Scope> {
        match s {
            "admin" => Some(Scope::Admin),
            "read" => Some(Scope::Read),
            _ => None,
        }
    }
}

/// Who a presented key is. Put into the request's extensions by the middleware.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyInfo {
    /// The stored key's id; `None` for the configured key (and with `--no-auth`).
    pub id: Option<String>,
    pub name: String,
    pub scope: Scope,
}

impl KeyInfo {
    pub fn is_admin(&self) -> bool {
        self.scope == Scope::Admin
    }
}

/// The keys that open the management API and MCP.
#[derive(Debug, Default)]
pub struct ApiKeys {
    /// Hex SHA-256 → who the key is.
    keys: RwLock<HashMap<String, KeyInfo>>,
    /// Hex SHA-256 of a revoked key still kept → its name and when it was revoked (unix ms):
    /// whoever presents one is told it was revoked, not that it is no key at all.
    revoked_keys: RwLock<HashMap<String, (String, i64)>>,
    /// Hash of the configured key, kept across reloads.
    configured: Option<String>,
    /// Serialises reloads so an older read never replaces a newer one.
    reload: tokio::sync::Mutex<()>,
    /// Key id → when its `last_used_at` was last written (unix ms).
    touched: Mutex<HashMap<String, i64>>,
    /// Woken on every revocation, so long-lived streams opened with a key end with it.
    revoked: tokio::sync::Notify,
    /// The table's mark when the keys in memory were read: [`ApiKeys::follow`] reloads when
    /// the database's differs.
    loaded: Mutex<Option<Marker>>,
}

impl ApiKeys {
    /// Loads the stored keys and adds the configured one. With no configured key and no
    /// active stored admin key, and if asked to, generates an admin key, stores its hash and
    /// returns the key so the caller can show it once.
    pub async fn bootstrap(
        store: &Store,
        configured: Option<&str>,
        generate: bool,
    ) -> Result<(ApiKeys, Option<String>), StoreError> {
        let configured = configured.filter(|k| !k.is_empty()).map(hash);
        let stored = store.read(api_keys::active).await?;
        let mut generated = None;
        if generate
            && configured.is_none()
            && !stored.iter().any(|k| k.scope == Scope::Admin.as_str())
        {
            let key = new_key();
            let digest = hash(&key);
            // Looked for again and made in one write: two processes started at once on a new
            // database take turns there, and only the first finds no admin key.
            let made = store
                .write(move |db| {
                    let admin = api_keys::active(db)?
                        .iter()
                        .any(|k| k.scope == Scope::Admin.as_str());
                    if admin {
                        return Ok(false);
                    }
                    api_keys::insert(
                        db,
                        &crate::service::new_id("key"),
                        GENERATED_KEY_NAME,
                        &digest,
                        clock::now_ms(),
                    )?;
                    Ok(true)
                })
                .await?;
            generated = made.then_some(key);
        }
        let keys = ApiKeys {
            configured,
            ..ApiKeys::default()
        };
        keys.reload(store).await?;
        Ok((keys, generated))
    }

    /// Re-reads the active keys from the database.
    pub async fn reload(&self, store: &Store) -> Result<(), StoreError> {
        let _one_at_a_time = self.reload.lock().await;
        // The mark is read before the keys: a change committed in between is in the keys but
        // not the mark, so it costs one more reload rather than being missed.
        let (marker, stored, revoked) = store
            .read(|db| {
                Ok((
                    api_keys::marker(db)?,
                    api_keys::active(db)?,
                    api_keys::revoked(db)?,
                ))
            })
            .await?;
        *self.revoked_keys.write().expect("api key lock poisoned") = revoked
            .into_iter()
            .map(|k| (k.hash, (k.name, k.revoked_at)))
            .collect();
        let mut map = HashMap::with_capacity(stored.len() + 1);
        for key in stored {
            let Some(scope) = Scope::parse(&key.scope) else {
                tracing::warn!(key_id = %key.id, scope = %key.scope, "API key with an unknown scope ignored");
                continue;
            };
            map.insert(
                key.hash,
                KeyInfo {
                    id: Some(key.id),
                    name: key.name,
                    scope,
                },
            );
        }
        if let Some(digest) = &self.configured {
            map.insert(
                digest.clone(),
                KeyInfo {
                    id: None,
                    name: CONFIGURED_KEY_NAME.to_string(),
                    scope: Scope::Admin,
                },
            );
        }
        let gone = {
            let mut keys = self.keys.write().expect("api key lock poisoned");
            let held: HashSet<&str> = map.values().filter_map(|k| k.id.as_deref()).collect();
            let gone = keys
                .values()
                .filter_map(|k| k.id.as_deref())
                .any(|id| !held.contains(id));
            *keys = map;
            gone
        };
        if gone {
            // A revoked key's last use is no longer written; its entry would stay for good.
            let keys = self.keys.read().expect("api key lock poisoned");
            let held: HashSet<&str> = keys.values().filter_map(|k| k.id.as_deref()).collect();
            self.touched
                .lock()
                .expect("touch lock poisoned")
                .retain(|id, _| held.contains(id.as_str()));
        }
        *self.loaded.lock().expect("api key mark poisoned") = Some(marker);
        // A key revoked by another process: the streams opened with it here end too.
        if gone {
            self.revoked.notify_waiters();
        }
        Ok(())
    }

    /// Reloads whenever the keys change in the database, whoever changed them (another `serve`
    /// on the same file), looking every [`FOLLOW_EVERY`]; until `stop`.
    pub async fn follow(&self, store: &Store, stop: CancellationToken) {
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(FOLLOW_EVERY) => {}
            }
            if let Err(e) = self.refresh(store).await {
                tracing::debug!(error = %e, "looking for API keys changed elsewhere failed");
            }
        }
    }

    /// Reloads if the table's mark moved since the last reload: one small query otherwise.
    async fn refresh(&self, store: &Store) -> Result<(), StoreError> {
        let now = store.read(api_keys::marker).await?;
        if *self.loaded.lock().expect("api key mark poisoned") == Some(now) {
            return Ok(());
        }
        self.reload(store).await
    }

    /// Drops stored key `id` from memory at once (a reload follows a revocation; this keeps the
    /// key from working even if that reload fails).
    fn forget(&self, id: &str) {
        let mut gone = Vec::new();
        self.keys
            .write()
            .expect("api key lock poisoned")
            .retain(|digest, key| {
                let keep = key.id.as_deref() != Some(id);
                if !keep {
                    gone.push((digest.clone(), key.name.clone()));
                }
                keep
            });
        let now = clock::now_ms();
        self.revoked_keys
            .write()
            .expect("api key lock poisoned")
            .extend(gone.into_iter().map(|(digest, name)| (digest, (name, now))));
        self.touched.lock().expect("touch lock poisoned").remove(id);
        self.revoked.notify_waiters();
    }

    /// Whether the stored key `id` still works (a key without an id — the configured one, no
    /// auth — always does).
    pub fn holds(&self, id: Option<&str>) -> bool {
        let Some(id) = id else {
            return true;
        };
        self.keys
            .read()
            .expect("api key lock poisoned")
            .values()
            .any(|key| key.id.as_deref() == Some(id))
    }

    /// Resolves at the next revocation (create the future before checking `holds`, so one
    /// that comes in between is not missed).
    pub fn revocation(&self) -> tokio::sync::futures::Notified<'_> {
        self.revoked.notified()
    }

    /// Who `presented` is, if it is one of the keys.
    pub fn identify(&self, presented: &str) -> Option<KeyInfo> {
        // Looking up digests rather than keys: timing can reveal nothing about a key from a
        // lookup keyed by its SHA-256.
        self.keys
            .read()
            .expect("api key lock poisoned")
            .get(&hash(presented))
            .cloned()
    }

    /// The name of the revoked key `presented` is, and when it was revoked (unix ms), if it is
    /// one still kept.
    pub fn revoked_as(&self, presented: &str) -> Option<(String, i64)> {
        self.revoked_keys
            .read()
            .expect("api key lock poisoned")
            .get(&hash(presented))
            .cloned()
    }

    /// Whether `presented` is one of the keys.
    pub fn check(&self, presented: &str) -> bool {
        self.identify(presented).is_some()
    }

    /// Whether `WEBHOOK_MCP_API_KEY` is set (an admin key that cannot be revoked).
    pub fn has_configured(&self) -> bool {
        self.configured.is_some()
    }

    /// Records that `key` was used: at most one write a minute per key, in the background.
    pub fn touch(&self, store: &Store, key: &KeyInfo) {
        let Some(id) = &key.id else {
            return;
        };
        let now = clock::now_ms();
        {
            let mut touched = self.touched.lock().expect("touch lock poisoned");
            if touched
                .get(id)
                .is_some_and(|last| now - last < TOUCH_EVERY_MS)
            {
                return;
            }
            touched.insert(id.clone(), now);
        }
        let (store, id) = (store.clone(), id.clone());
        tokio::spawn(async move {
            if let Err(e) = store.write(move |db| api_keys::touch(db, &id, now)).await {
                tracing::debug!(error = %e, "could not record when an API key was used");
            }
        });
    }
}

/// A key as listed: never the key or its hash.
#[derive(Debug, Clone, Serialize)]
pub struct KeyOut {
    pub id: String,
    pub name: String,
    pub scope: String,
    pub created_at: String,
    pub created_by: Option<String>,
    pub last_used_at: Option<String>,
    pub revoked_at: Option<String>,
}

/// A key just created: the only time the key itself is shown.
#[derive(Debug, Clone, Serialize)]
pub struct CreatedKey {
    #[serde(flatten)]
    pub info: KeyOut,
    /// The key: send it as `Authorization: Bearer <key>`. Shown only now.
    pub key: String,
}

/// Body of `POST /api/keys`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyIn {
    pub name: String,
    /// `read` (default) or `admin`.
    pub scope: Option<String>,
}

/// Every stored key, revoked ones too (for 30 days after their revocation), oldest first.
pub async fn list(state: &AppState) -> Result<Vec<KeyOut>, ServiceError> {
    let rows = state.store.read(api_keys::list).await?;
    Ok(rows.into_iter().map(key_out).collect())
}

/// One stored key, revoked or not.
pub async fn get(state: &AppState, id: &str) -> Result<Option<KeyOut>, ServiceError> {
    let id = id.to_string();
    let row = state.store.read(move |db| api_keys::get(db, &id)).await?;
    Ok(row.map(key_out))
}

/// Characters that show as nothing, refused in a key's name beyond those a webhook's name
/// refuses ([`check_shown_name`](super::webhooks::check_shown_name)): a name with them can
/// look like another. The joiners and variation selectors emoji need are not among them.
fn invisible(c: char) -> bool {
    matches!(
        c,
        '\u{034F}' | '\u{115F}' | '\u{1160}' | '\u{180E}' | '\u{3164}' | '\u{FFA0}' | '\u{E0000}'
            ..='\u{E007F}'
    )
}

/// A name's letters and digits as the Latin ones they look like, lowercased: what it looks
/// like, whatever its case, dashes, full-width forms or Cyrillic and Greek look-alikes
/// (`ѕtdіо`). Other letters stay, so names in other scripts do not all look alike.
fn skeleton(name: &str) -> String {
    name.chars()
        .map(looks_like)
        .flat_map(char::to_lowercase)
        .filter(|c| c.is_alphanumeric())
        .collect()
}

/// Whether two key names could be taken for each other in the audit log. Names without a
/// letter or digit have no skeleton to compare; those are compared as written. Beside the
/// table below, Unicode's own list of confusables (UTS #39) is asked, in two ways: as
/// written (`Iog` is drawn like `log`) and lowercased first (`ADMIN` like `admin`), which
/// catches what the table lacks (`admın` with a dotless `ı`, `𝗈𝗉𝗌`, Armenian `օ`).
fn look_alike(a: &str, b: &str) -> bool {
    let (a_looks, b_looks) = (skeleton(a), skeleton(b));
    if a_looks.is_empty() && b_looks.is_empty() {
        return a == b;
    }
    let ([a_written, a_lowered], [b_written, b_lowered]) = (confusables(a), confusables(b));
    a_looks == b_looks || a_written == b_written || a_lowered == b_lowered
}

/// A name's UTS #39 skeletons, as written and lowercased first, kept to letters and digits
/// in lower case. The name is NFKC-folded first: circled (`ⓞ`), parenthesised and
/// superscript letters are compatibility forms of plain ones, not confusables.
fn confusables(name: &str) -> [String; 2] {
    use unicode_normalization::UnicodeNormalization;
    use unicode_security::confusable_detection::skeleton;
    let name: String = name.nfkc().collect();
    let letters = |s: &str| -> String {
        skeleton(s)
            .flat_map(char::to_lowercase)
            .filter(|c| c.is_alphanumeric())
            .collect()
    };
    [letters(&name), letters(&name.to_lowercase())]
}

/// The Latin letter or digit a character is drawn like, where it is drawn like one.
fn looks_like(c: char) -> char {
    // Full-width forms (`ｓｔｄｉｏ`) sit at a fixed distance from ASCII.
    if ('\u{FF01}'..='\u{FF5E}').contains(&c) {
        return char::from_u32(c as u32 - 0xFEE0).unwrap_or(c);
    }
    match c {
        'а' | 'А' | 'α' | 'Α' => 'a',
        'в' | 'В' | 'β' | 'Β' => 'b',
        'с' | 'С' | 'ϲ' => 'c',
        'ԁ' => 'd',
        'е' | 'Е' | 'ε' | 'Ε' => 'e',
        'һ' | 'Н' | 'Η' => 'h',
        'і' | 'І' | 'ι' | 'Ι' | 'ӏ' => 'i',
        'ј' | 'Ј' => 'j',
        'к' | 'К' | 'κ' | 'Κ' => 'k',
        'м' | 'М' | 'Μ' => 'm',
        'п' | 'ո' | 'Ν' => 'n',
        'о' | 'О' | 'ο' | 'Ο' | 'σ' => 'o',
        'р' | 'Р' | 'ρ' | 'Ρ' => 'p',
        'ѕ' | 'Ѕ' => 's',
        'т' | 'Т' | 'τ' | 'Τ' => 't',
        'υ' => 'u',
        'ν' => 'v',
        'у' | 'У' | 'Υ' => 'y',
        'х' | 'Х' | 'χ' | 'Χ' => 'x',
        'Ζ' => 'z',
        // Small capitals (`ᴏᴘs`) have no compatibility form and are not in UTS #39's list.
        'ᴀ' => 'a',
        'ʙ' => 'b',
        'ᴄ' => 'c',
        'ᴅ' => 'd',
        'ᴇ' => 'e',
        'ꜰ' => 'f',
        'ɢ' => 'g',
        'ʜ' => 'h',
        'ɪ' => 'i',
        'ᴊ' => 'j',
        'ᴋ' => 'k',
        'ʟ' => 'l',
        'ᴍ' => 'm',
        'ɴ' => 'n',
        'ᴏ' => 'o',
        'ᴘ' => 'p',
        'ꞯ' => 'q',
        'ʀ' => 'r',
        'ꜱ' => 's',
        'ᴛ' => 't',
        'ᴜ' => 'u',
        'ᴠ' => 'v',
        'ᴡ' => 'w',
        'ʏ' => 'y',
        'ᴢ' => 'z',
        _ => c,
    }
}

/// Creates a key; `created_by` is the name of the key that asked.
pub async fn create(
    state: &AppState,
    input: KeyIn,
    created_by: Option<String>,
) -> Result<CreatedKey, ServiceError> {
    let name = input.name.trim().to_string();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(ServiceError::invalid(
            "name",
            "name must be 1-100 characters, e.g. \"grafana dashboard\"",
        ));
    }
    // As a webhook's name is held (emoji with their joiners and variation selectors pass),
    // and then to the stricter list below.
    let name = super::webhooks::check_shown_name(&name, 100)?;
    if name.chars().any(invisible) {
        return Err(ServiceError::invalid(
            "name",
            "name must not contain invisible characters (blank fillers, tags, U+034F, U+180E)",
        ));
    }
    // The audit log names callers by their key's name: a key must not pass for the
    // configured key, the stdio client or --no-auth there, even written with other dashes.
    let reserved = [
        CONFIGURED_KEY_NAME,
        GENERATED_KEY_NAME,
        crate::mcp::STDIO_ACTOR,
        "no-auth",
    ];
    if let Some(taken) = reserved.iter().find(|r| look_alike(r, &name)) {
        return Err(ServiceError::invalid(
            "name",
            format!("`{taken}` names the server's own callers in the audit log; choose another"),
        ));
    }
    // Least privilege: a caller who forgets the scope gets a key that can only look.
    let scope = match input.scope.as_deref() {
        None => Scope::Read,
        // In any case, with spaces around it, as a provider's name is taken.
        Some(s) => Scope::parse(&s.trim().to_ascii_lowercase()).ok_or_else(|| {
            ServiceError::invalid(
                "scope",
                format!(
                    "unknown scope `{}`; use admin or read",
                    crate::quote::quoted(s)
                ),
            )
        })?,
    };
    let key = new_key();
    let digest = hash(&key);
    let id = crate::service::new_id("key");
    let now = clock::now_ms();
    let row = KeyRow {
        id: id.clone(),
        name: name.clone(),
        scope: scope.as_str().to_string(),
        created_at: now,
        last_used_at: None,
        revoked_at: None,
        created_by: created_by.clone(),
    };
    let clash = state
        .store
        .write(move |db| {
            // Names identify keys in the audit log: no two active keys share one, nor names
            // a reader could take for each other (`ops`, `OPS`, `оps` with a Cyrillic `о`).
            let names = api_keys::active_names(db)?;
            if let Some(clash) = names
                .into_iter()
                .find(|(_, other)| look_alike(other, &name))
            {
                return Ok(Some(clash));
            }
            api_keys::insert_key(
                db,
                &NewKey {
                    id: &id,
                    name: &name,
                    hash: &digest,
                    scope: scope.as_str(),
                    created_at: now,
                    created_by: created_by.as_deref(),
                },
            )?;
            Ok(None)
        })
        .await?;
    if let Some((other_id, other)) = clash {
        let clashes = if other == row.name {
            "already has this name".to_string()
        } else {
            format!("has a name that looks like `{}`", row.name)
        };
        return Err(ServiceError::ConflictOn {
            field: "name",
            message: format!(
                "an active API key, `{other}` ({other_id}), {clashes}; the audit log names \
                 callers by their key's name, so choose another name or revoke that key first"
            ),
        });
    }
    state.api_keys.reload(&state.store).await?;
    Ok(CreatedKey {
        info: key_out(row),
        key,
    })
}

/// Revokes a stored key; it stops working before this returns. Refuses (409) to revoke the
/// last active admin key unless `WEBHOOK_MCP_API_KEY` is set. Revoking twice is not an error,
/// until the retention sweep deletes the key 30 days after its revocation: then it is 404.
pub async fn revoke(state: &AppState, id: &str) -> Result<(), ServiceError> {
    let keep_last_admin = !state.api_keys.has_configured();
    let key = id.to_string();
    let outcome = state
        .store
        .write(move |db| api_keys::revoke(db, &key, clock::now_ms(), keep_last_admin))
        .await?;
    match outcome {
        Revoked::Revoked | Revoked::AlreadyRevoked => {
            state.api_keys.forget(id);
            state.api_keys.reload(&state.store).await?;
            Ok(())
        }
        Revoked::NotFound => Err(ServiceError::NotFound {
            what: "API key",
            id: id.to_string(),
        }),
        Revoked::LastAdmin => Err(ServiceError::Conflict(
            "this is the last active admin key: create another admin key first (or set \
             WEBHOOK_MCP_API_KEY), then revoke this one"
                .into(),
        )),
    }
}

fn key_out(row: KeyRow) -> KeyOut {
    KeyOut {
        id: row.id,
        name: row.name,
        scope: row.scope,
        created_at: clock::rfc3339(row.created_at),
        created_by: row.created_by,
        last_used_at: row.last_used_at.map(clock::rfc3339),
        revoked_at: row.revoked_at.map(clock::rfc3339),
    }
}

/// How every key this service makes begins (the audit log finds keys by it in any text).
pub const KEY_PREFIX: &str = "whk_";

/// A new key: [`KEY_PREFIX`] and 32 random bytes.
fn new_key() -> String {
    format!("{KEY_PREFIX}{}", crate::providers::random_token(32))
}

/// Hex SHA-256 of a key.
pub fn hash(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    // Two threads: `close` blocks one until the writes `touch` spawned have had their answer.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_revoked_keys_last_use_is_let_go_whoever_revoked_it() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("x.db")).unwrap();
        let add = |id: &'static str, key: &'static str| {
            store.write(move |db| api_keys::insert(db, id, id, &hash(key), 1))
        };
        add("key_a", "presented-a").await.unwrap();
        add("key_b", "presented-b").await.unwrap();
        let (keys, _) = ApiKeys::bootstrap(&store, None, false).await.unwrap();
        for presented in ["presented-a", "presented-b"] {
            keys.touch(&store, &keys.identify(presented).unwrap());
        }
        let touched = |keys: &ApiKeys| {
            let mut ids: Vec<_> = keys.touched.lock().unwrap().keys().cloned().collect();
            ids.sort();
            ids
        };
        assert_eq!(touched(&keys), ["key_a", "key_b"]);

        // Here, then by another process (seen on reload).
        keys.forget("key_a");
        assert_eq!(touched(&keys), ["key_b"]);
        store
            .write(|db| api_keys::revoke(db, "key_b", 2, false).map(drop))
            .await
            .unwrap();
        keys.reload(&store).await.unwrap();
        assert!(touched(&keys).is_empty());
        store.close();
    }

    #[test]
    fn names_a_reader_could_take_for_each_other_look_alike() {
        for (a, b, alike) in [
            ("ops", "OPS", true),
            ("ops", "\u{043e}ps", true),
            ("ops", "\u{FF4F}\u{FF50}\u{FF53}", true),
            ("admin", "adm\u{0131}n", true),
            ("ops", "\u{1D5C8}\u{1D5C9}\u{1D5CC}", true),
            ("ops", "\u{0585}ps", true),
            ("log", "Iog", true),
            ("admin", "ADMIN", true),
            ("ops", "\u{24DE}\u{24DF}\u{24E2}", true),
            ("ops", "\u{1D0F}\u{1D18}s", true),
            ("ops", "\u{1D0F}\u{1D18}\u{A731}", true),
            ("ops", "dev", false),
            ("grafana", "grafana2", false),
            ("日本", "中国", false),
        ] {
            assert_eq!(look_alike(a, b), alike, "{a} / {b}");
            assert_eq!(look_alike(b, a), alike, "{b} / {a}");
        }
    }
}
