//! A short-lived in-memory copy of each webhook with its compiled commands, so the receive
//! path neither reads the database nor recompiles conditions and templates per request.
//! Changes made through this process invalidate their entry at once; the time limit bounds
//! how stale an entry can be when another process (a `webhook-mcp stdio` on the same file)
//! changes a webhook.

use std::collections::HashMap;
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
    /// The enabled commands, compiled, in run order.
    pub compiled: Vec<CompiledCommand>,
    /// Who may call it (empty: everyone).
    pub allowlist: Vec<ipnet::IpNet>,
    /// The APIs its own credentials name, which its replies are keyed by in the outbox.
    pub own_apis: super::record::OwnApis,
}

pub struct HookCache {
    ttl: Duration,
    entries: RwLock<HashMap<String, (Instant, Arc<Hook>)>>,
}

impl HookCache {
    pub fn new(ttl: Duration) -> Self {
        HookCache {
            ttl,
            entries: RwLock::new(HashMap::new()),
        }
    }

    /// The webhook, from memory if fresh, else from the database.
    pub async fn get(
        &self,
        store: &Store,
        sealer: &super::sealing::Sealer,
        id: &str,
    ) -> Result<Option<Arc<Hook>>, StoreError> {
        if let Some((at, hook)) = self.entries.read().expect("hook cache poisoned").get(id)
            && at.elapsed() < self.ttl
        {
            return Ok(Some(hook.clone()));
        }
        let key = id.to_string();
        let loaded = store
            .read(move |db| {
                let Some(row) = crate::store::webhooks::get(db, &key)? else {
                    return Ok(None);
                };
                let commands = crate::store::commands::list(db, &key)?;
                Ok(Some((row, commands)))
            })
            .await?;
        let Some((mut row, commands)) = loaded else {
            self.invalidate(id);
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
        let options: crate::providers::ProviderOptions =
            serde_json::from_str(&row.options).unwrap_or_default();
        let allowlist = options
            .ip_allowlist
            .iter()
            .flatten()
            .filter_map(|s| super::limits::parse_net(s).ok())
            .collect();
        let hook = Arc::new(Hook {
            allowlist,
            own_apis: super::record::OwnApis::of(&options),
            options,
            compiled: super::commands::compile_enabled(&commands),
            row,
            commands,
        });
        let mut entries = self.entries.write().expect("hook cache poisoned");
        // Unknown ids are never cached, so the map holds at most the registered webhooks.
        entries.insert(id.to_string(), (Instant::now(), hook.clone()));
        Ok(Some(hook))
    }

    pub fn invalidate(&self, id: &str) {
        self.entries
            .write()
            .expect("hook cache poisoned")
            .remove(id);
    }
}
