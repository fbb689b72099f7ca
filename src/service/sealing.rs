//! Optional encryption at rest for webhook secrets, reply credentials, forwards' signing
//! secrets and headers' values, and target URLs that are credentials themselves, with a key
//! from the environment (`WEBHOOK_MCP_SECRET_KEY`). Sealed values are stored as
//! `enc:v1:<base64(nonce || ciphertext)>` (ChaCha20-Poly1305); plain values stay readable, and
//! a start with the key seals those stored before it was set (`seal_plain`).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{ChaCha20Poly1305, Nonce};
use rand::RngExt;

const PREFIX: &str = "enc:v1:";

/// Whether a value is in the form sealed values are stored in.
pub fn looks_sealed(value: &str) -> bool {
    value.starts_with(PREFIX)
}

/// The 32 bytes of a key given as 64 hex characters or base64; `None` for an empty one. The
/// error completes a sentence that starts with the setting's name.
pub fn key_bytes(key: &str) -> Result<Option<[u8; 32]>, String> {
    let key = key.trim();
    if key.is_empty() {
        return Ok(None);
    }
    let exact = |b: Vec<u8>| <[u8; 32]>::try_from(b).ok();
    hex::decode(key)
        .ok()
        .and_then(exact)
        .or_else(|| STANDARD.decode(key).ok().and_then(exact))
        .map(Some)
        .ok_or_else(|| {
            "must be 32 bytes, as 64 hex characters or base64 (e.g. `openssl rand -hex 32`)".into()
        })
}

#[derive(Clone, Default)]
pub struct Sealer {
    cipher: Option<ChaCha20Poly1305>,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Sealer({})",
            if self.cipher.is_some() { "on" } else { "off" }
        )
    }
}

impl Sealer {
    /// From a 32-byte key given as 64 hex characters or base64; `None` turns sealing off.
    pub fn new(key: Option<&str>) -> Result<Sealer, String> {
        match key_bytes(key.unwrap_or_default()) {
            Ok(bytes) => Ok(bytes.map(|b| Sealer::of(&b)).unwrap_or_default()),
            Err(e) => Err(format!("WEBHOOK_MCP_SECRET_KEY {e}")),
        }
    }

    /// Sealing with these key bytes.
    pub fn of(key: &[u8; 32]) -> Sealer {
        Sealer {
            cipher: Some(ChaCha20Poly1305::new(key.into())),
        }
    }

    pub fn is_on(&self) -> bool {
        self.cipher.is_some()
    }

    /// Encrypts `plain` when sealing is on; returns it unchanged otherwise.
    pub fn seal(&self, plain: &str) -> String {
        let Some(cipher) = &self.cipher else {
            return plain.to_string();
        };
        let nonce_bytes: [u8; 12] = rand::rng().random();
        let nonce = Nonce::from(nonce_bytes);
        let sealed = cipher
            .encrypt(&nonce, plain.as_bytes())
            .expect("ChaCha20-Poly1305 encryption of a short string cannot fail");
        let mut out = nonce_bytes.to_vec();
        out.extend_from_slice(&sealed);
        format!("{PREFIX}{}", STANDARD.encode(out))
    }

    /// `value` as it is to be stored when it is not already: sealed, when sealing is on and
    /// it is not sealed yet; `None` when it is stored as it stands.
    pub fn seal_once(&self, value: &str) -> Option<String> {
        (self.is_on() && !looks_sealed(value)).then(|| self.seal(value))
    }

    /// Decrypts a sealed value; a plain value is returned as is.
    pub fn open(&self, stored: &str) -> Result<String, String> {
        let Some(encoded) = stored.strip_prefix(PREFIX) else {
            return Ok(stored.to_string());
        };
        let cipher = self
            .cipher
            .as_ref()
            .ok_or("a secret in the database is encrypted but WEBHOOK_MCP_SECRET_KEY is not set")?;
        let raw = STANDARD
            .decode(encoded)
            .map_err(|_| "a sealed secret is not valid base64")?;
        if raw.len() < 12 {
            return Err("a sealed secret is too short".into());
        }
        let (nonce, body) = raw.split_at(12);
        let nonce: [u8; 12] = nonce.try_into().map_err(|_| "bad nonce")?;
        let plain = cipher
            .decrypt(&Nonce::from(nonce), body)
            .map_err(|_| "a sealed secret does not decrypt: WEBHOOK_MCP_SECRET_KEY is not the key it was sealed with")?;
        String::from_utf8(plain).map_err(|_| "a sealed secret is not UTF-8".into())
    }

    /// Seals every token in a credentials block (URLs and the Jira email stay plain).
    pub fn seal_credentials(&self, c: &mut crate::providers::ReplyCredentials) {
        for field in c.secret_fields_mut() {
            if let Some(v) = field.as_mut()
                && !v.starts_with(PREFIX)
            {
                *v = self.seal(v);
            }
        }
    }

    /// Opens every sealed credential, or says why one cannot be opened (and leaves `c`
    /// partly opened: the caller must not use it then).
    pub fn try_open_credentials(
        &self,
        c: &mut crate::providers::ReplyCredentials,
    ) -> Result<(), String> {
        for field in c.secret_fields_mut() {
            if let Some(v) = field.as_ref() {
                *field = Some(self.open(v)?);
            }
        }
        Ok(())
    }

    /// Opens every sealed token in a credentials block, for showing them (masked); unreadable
    /// ones are dropped.
    pub fn open_credentials(&self, c: &mut crate::providers::ReplyCredentials) {
        for field in c.secret_fields_mut() {
            if let Some(v) = field.as_ref() {
                *field = match self.open(v) {
                    Ok(plain) => Some(plain),
                    Err(e) => {
                        tracing::error!(error = %e, "cannot open a stored credential");
                        None
                    }
                };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

    #[test]
    fn sealed_values_round_trip_and_differ_each_time() {
        let s = Sealer::new(Some(KEY)).expect("key");
        let a = s.seal("hunter2");
        let b = s.seal("hunter2");
        assert!(a.starts_with(PREFIX) && a != b && !a.contains("hunter2"));
        assert_eq!(s.open(&a).as_deref(), Ok("hunter2"));
    }

    #[test]
    fn plain_values_pass_through_and_wrong_keys_are_reported() {
        let s = Sealer::new(Some(KEY)).expect("key");
        assert_eq!(s.open("plain").as_deref(), Ok("plain"));
        let sealed = s.seal("x");
        let other = Sealer::new(Some(&"ff".repeat(32))).expect("key");
        assert!(other.open(&sealed).unwrap_err().contains("not the key"));
        assert!(
            Sealer::default()
                .open(&sealed)
                .unwrap_err()
                .contains("not set")
        );
        assert_eq!(Sealer::default().seal("x"), "x");
        assert!(Sealer::new(Some("short")).is_err());
    }
}
