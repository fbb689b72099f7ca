//! A short-lived in-memory copy of each webhook with its compiled commands, so the receive
//! path neither reads the database nor recompiles conditions and templates per request.
//! Changes made through this process invalidate their entry at once; the time limit bounds
//! how stale an entry can be when another process (a `webhook-mcp stdio` on the same file)
//! changes a webhook.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use crate::engine::CompiledCommand;
use crate::providers::ProviderOptions;
use crate::store::commands::CommandRow;
use crate::store::webhooks::WebhookRow;
use crate::store::{Store, StoreError};

/// A webhook as the receiver needs it.
#[derive(Debug)]
pub struct Hook {
    pub row: WebhookRow,
    pub options: ProviderOptions,
    pub commands: Vec<CommandRow>,
    /// The enabled commands, compiled, in run order; shared with the entry this one replaced
    /// when the commands did not change.
    pub compiled: Arc<[CompiledCommand]>,
    /// Who may call it (empty: everyone).
    pub allowlist: Vec<ipnet::IpNet>,
    /// The APIs its own credentials name, which its replies are keyed by in the outbox.
    pub own_apis: super::record::OwnApis,
}

pub struct HookCache {
    entries: Fresh<Hook>,
}

impl HookCache {
    pub fn new(ttl: Duration) -> Self {
        HookCache {
            entries: Fresh::new(ttl),
        }
    }

    /// The webhook, from memory if fresh, else from the database.
    pub async fn get(
        &self,
        store: &Store,
        sealer: &super::sealing::Sealer,
        id: &str,
    ) -> Result<Option<Arc<Hook>>, StoreError> {
        if let Some(hook) = self.entries.fresh(id) {
            return Ok(Some(hook));
        }
        let loading = self.entries.generation();
        let key = id.to_string();
        let loaded = store
            .read_for_delivery(move |db| {
                let Some(row) = crate::store::webhooks::get(db, &key)? else {
                    return Ok(None);
                };
                let commands = crate::store::commands::list(db, &key)?;
                Ok(Some((row, commands)))
            })
            .await?;
        let Some((mut row, commands)) = loaded else {
            // Only one remembered is dropped (another process deleted it): a stream of
            // requests to made-up ids must not count as changes, each of which would keep
            // every load meanwhile out of the cache.
            self.entries.drop_kept(id);
            return Ok(None);
        };
        row.secret = sealer.open(&row.secret).map_err(StoreError::Corrupt)?;
        row.previous_secret = row
            .previous_secret
            .as_deref()
            .map(|s| sealer.open(s))
            .transpose()
            .map_err(StoreError::Corrupt)?;
        // Their target URLs opened: planning names a message's kind and sends it by them.
        let commands = super::commands::opened_rows(sealer, commands)?;
        // Options that cannot be read (a database another version wrote, or edited by hand)
        // refuse its deliveries rather than drop the allowlist and limits that guard it.
        let options: crate::providers::ProviderOptions = serde_json::from_str(&row.options)
            .map_err(|e| {
                StoreError::Corrupt(format!(
                    "webhook `{id}`'s stored options cannot be read: {e}"
                ))
            })?;
        let allowlist = options
            .ip_allowlist
            .iter()
            .flatten()
            .map(|s| {
                super::limits::parse_net(s).map_err(|e| {
                    StoreError::Corrupt(format!(
                        "webhook `{id}`'s stored ip_allowlist entry `{s}` cannot be read: {e}"
                    ))
                })
            })
            .collect::<Result<_, _>>()?;
        // Only a change recompiles: an entry past its time is read again for changes another
        // process made, and anyone may make it be read (a forged delivery is looked up before
        // its signature is checked), but compiling regexes and templates is the dear part.
        let compiled = match self.entries.any_age(id) {
            Some(before) if before.commands == commands => before.compiled.clone(),
            _ => super::commands::compile_enabled(&commands).into(),
        };
        let hook = Arc::new(Hook {
            allowlist,
            own_apis: super::record::OwnApis::of(&options),
            options,
            compiled,
            row,
            commands,
        });
        // Unknown ids are never cached, so the map holds at most the registered webhooks.
        self.entries.keep(id, loading, hook.clone());
        Ok(Some(hook))
    }

    pub fn invalidate(&self, id: &str) {
        self.entries.invalidate(id);
    }
}

/// Values kept for a while by id, and dropped when changed. A value read before a change was
/// made and invalidated is not kept after it: a delivery that loaded a webhook just before
/// its secret was rotated would otherwise put the old secret back for the time limit.
struct Fresh<T> {
    ttl: Duration,
    /// Counts invalidations; a load remembers it from before its read.
    generation: AtomicU64,
    entries: RwLock<HashMap<String, (Instant, Arc<T>)>>,
}

impl<T> Fresh<T> {
    fn new(ttl: Duration) -> Self {
        Fresh {
            ttl,
            generation: AtomicU64::new(0),
            entries: RwLock::new(HashMap::new()),
        }
    }

    fn fresh(&self, id: &str) -> Option<Arc<T>> {
        let entries = self.entries.read().expect("hook cache poisoned");
        let (at, value) = entries.get(id)?;
        (at.elapsed() < self.ttl).then(|| value.clone())
    }

    /// The value kept for `id`, however old.
    fn any_age(&self, id: &str) -> Option<Arc<T>> {
        let entries = self.entries.read().expect("hook cache poisoned");
        entries.get(id).map(|(_, value)| value.clone())
    }

    /// Taken before reading what will be kept.
    fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Keeps `value`, read after `generation` was taken, unless something was invalidated
    /// since (it may predate that change).
    fn keep(&self, id: &str, generation: u64, value: Arc<T>) {
        let mut entries = self.entries.write().expect("hook cache poisoned");
        // Under the lock `invalidate` bumps the count in: no invalidation slips between.
        if self.generation.load(Ordering::Acquire) == generation {
            entries.insert(id.to_string(), (Instant::now(), value));
        }
    }

    fn invalidate(&self, id: &str) {
        let mut entries = self.entries.write().expect("hook cache poisoned");
        self.generation.fetch_add(1, Ordering::AcqRel);
        entries.remove(id);
    }

    /// [`Fresh::invalidate`] of an id that has a value kept; nothing for one that has none.
    fn drop_kept(&self, id: &str) {
        if self
            .entries
            .read()
            .expect("hook cache poisoned")
            .contains_key(id)
        {
            self.invalidate(id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_read_before_a_change_is_not_kept_after_it() {
        let cache = Fresh::new(Duration::from_secs(60));

        // Read and kept with nothing changed meanwhile: kept.
        let before = cache.generation();
        cache.keep("a", before, Arc::new("old"));
        assert_eq!(cache.fresh("a").as_deref(), Some(&"old"));

        // Read, then the row changed and its entry dropped, then the read value offered: the
        // change wins, and the next read loads the new row.
        let loading = cache.generation();
        cache.invalidate("a");
        cache.keep("a", loading, Arc::new("old"));
        assert_eq!(cache.fresh("a"), None);
        let after = cache.generation();
        cache.keep("a", after, Arc::new("new"));
        assert_eq!(cache.fresh("a").as_deref(), Some(&"new"));
    }

    #[test]
    fn a_look_up_of_an_id_with_nothing_kept_does_not_keep_other_loads_out() {
        let cache = Fresh::new(Duration::from_secs(60));
        let loading = cache.generation();
        cache.drop_kept("made-up");
        cache.keep("a", loading, Arc::new("kept"));
        assert_eq!(cache.fresh("a").as_deref(), Some(&"kept"));
        // One kept is dropped as a change is: a load from before it is not kept.
        let loading = cache.generation();
        cache.drop_kept("a");
        assert_eq!(cache.fresh("a"), None);
        cache.keep("b", loading, Arc::new("stale"));
        assert_eq!(cache.fresh("b"), None);
    }

    #[tokio::test]
    async fn a_webhook_read_again_unchanged_keeps_its_compiled_commands() {
        // Arrange: entries that are stale at once, so every get reads the database.
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(&dir.path().join("hooks.db")).expect("store");
        let sealer = super::super::sealing::Sealer::new(None).expect("sealer");
        let webhook = crate::store::webhooks::made_at(1);
        let mut command = CommandRow {
            id: "cmd".into(),
            webhook_id: "gh".into(),
            trigger: "issues.opened".into(),
            action: "comment".into(),
            agent: None,
            template: Some("hi".into()),
            conditions: r#"{"field": "issue.body", "regex": "\\w{30}"}"#.into(),
            target: None,
            priority: 0,
            stop: false,
            enabled: true,
            created_at: 1,
            updated_at: 1,
            schedule: None,
            timezone: None,
        };
        let row = command.clone();
        store
            .write(move |db| {
                crate::store::webhooks::insert(db, &webhook)?;
                crate::store::commands::insert(db, &row)
            })
            .await
            .expect("insert");
        let cache = HookCache::new(Duration::ZERO);
        let get = || async {
            cache
                .get(&store, &sealer, "gh")
                .await
                .expect("get")
                .expect("hook")
        };

        // Act
        let first = get().await;
        let again = get().await;
        command.template = Some("hello".into());
        command.updated_at = 2;
        let changed = command.clone();
        store
            .write(move |db| crate::store::commands::update(db, &changed))
            .await
            .expect("update");
        let after_change = get().await;

        // Assert: read twice, compiled once; a change compiles anew.
        assert_eq!(first.compiled.len(), 1);
        assert!(Arc::ptr_eq(&first.compiled, &again.compiled));
        assert!(!Arc::ptr_eq(&again.compiled, &after_change.compiled));
    }

    #[test]
    fn a_value_past_its_time_is_read_again() {
        let cache = Fresh::new(Duration::ZERO);
        let now = cache.generation();
        cache.keep("a", now, Arc::new(1));
        assert_eq!(cache.fresh("a"), None);
    }
}
