//! API keys for `/api` (and later `/mcp`). Only SHA-256 hashes are kept: the keys are long
//! random strings, so a fast hash is enough and a stolen database holds no usable key.

use std::collections::HashSet;
use std::sync::RwLock;

use sha2::{Digest, Sha256};

use crate::clock;
use crate::store::{Store, StoreError, api_keys};

/// The keys that open the management API.
#[derive(Debug, Default)]
pub struct ApiKeys {
    hashes: RwLock<HashSet<String>>,
}

impl ApiKeys {
    /// Loads the stored key hashes and adds the configured key. With neither, generates a
    /// key, stores its hash and returns the key so the caller can show it once.
    pub async fn bootstrap(
        store: &Store,
        configured: Option<&str>,
    ) -> Result<(ApiKeys, Option<String>), StoreError> {
        let mut hashes: HashSet<String> = store
            .read(api_keys::active_hashes)
            .await?
            .into_iter()
            .collect();
        let mut generated = None;
        match configured.filter(|k| !k.is_empty()) {
            Some(key) => {
                hashes.insert(hash(key));
            }
            None if hashes.is_empty() => {
                let key = format!("whk_{}", crate::providers::random_token(32));
                let digest = hash(&key);
                let stored = digest.clone();
                store
                    .write(move |db| {
                        api_keys::insert(
                            db,
                            &crate::service::new_id("key"),
                            "generated on first start",
                            &stored,
                            clock::now_ms(),
                        )
                    })
                    .await?;
                hashes.insert(digest);
                generated = Some(key);
            }
            None => {}
        }
        Ok((
            ApiKeys {
                hashes: RwLock::new(hashes),
            },
            generated,
        ))
    }

    /// Whether `presented` is one of the keys.
    pub fn check(&self, presented: &str) -> bool {
        // Comparing digests rather than keys: timing can reveal nothing about a key from a
        // lookup keyed by its SHA-256.
        self.hashes
            .read()
            .expect("api key lock poisoned")
            .contains(&hash(presented))
    }
}

/// Hex SHA-256 of a key.
pub fn hash(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}
