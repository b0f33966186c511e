//! The platform master key, which keeps connection shared secrets encrypted in the database.

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use hkdf::Hkdf;
use rand::RngCore;
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;
use std::fmt;
use zeroize::{Zeroize, Zeroizing};

/// Shorter master secrets are refused: the key protects every connection's shared secret.
pub const MIN_MASTER_SECRET_LEN: usize = 32;

const SALT: &[u8] = b"airlock master key v1";
const INFO: &[u8] = b"airlock secret wrap v1";
/// Versioned so a later wrapping scheme can coexist with secrets already stored.
const PREFIX: &str = "v1:";
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MasterKeyError {
    #[error("AIRLOCK_MASTER_SECRET is {len} characters long; at least {MIN_MASTER_SECRET_LEN} are required")]
    TooShort { len: usize },
}

/// Deliberately carries no detail: a caller learns nothing about why a token failed.
#[derive(Debug, thiserror::Error, Clone, Copy, PartialEq, Eq)]
#[error("InvalidToken")]
pub struct InvalidToken;

/// Cloning copies the key; each copy is zeroed when dropped.
#[derive(Clone)]
pub struct MasterKey {
    key: [u8; 32],
}

impl MasterKey {
    pub fn new(secret: &str) -> Result<MasterKey, MasterKeyError> {
        let len = secret.chars().count();
        if len < MIN_MASTER_SECRET_LEN {
            return Err(MasterKeyError::TooShort { len });
        }
        let mut key = [0u8; 32];
        Hkdf::<Sha256>::new(Some(SALT), secret.as_bytes())
            .expand(INFO, &mut key)
            .expect("32 bytes is a valid HKDF-SHA256 output length");
        Ok(MasterKey { key })
    }

    /// Encrypts a shared secret for storage; each call uses a fresh random nonce.
    pub fn wrap(&self, shared_secret: &str) -> String {
        let mut nonce = [0u8; NONCE_LEN];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let ciphertext = self
            .cipher()
            .encrypt(Nonce::from_slice(&nonce), shared_secret.as_bytes())
            .expect("AES-GCM encryption of an in-memory string cannot fail");
        let mut blob = Vec::with_capacity(NONCE_LEN + ciphertext.len());
        blob.extend_from_slice(&nonce);
        blob.extend_from_slice(&ciphertext);
        format!("{PREFIX}{}", BASE64.encode(blob))
    }

    /// Whether two wrapped secrets hold the same secret (each wrapping has its own nonce, so
    /// the wrapped forms always differ). `false` when either does not unwrap.
    pub fn same_secret(&self, wrapped: &str, other: &str) -> bool {
        match (self.unwrap(wrapped), self.unwrap(other)) {
            // Both are this platform's own; nobody outside can time the comparison.
            (Ok(a), Ok(b)) => a.expose_secret() == b.expose_secret(),
            _ => false,
        }
    }

    pub fn unwrap(&self, wrapped: &str) -> Result<SecretString, InvalidToken> {
        let encoded = wrapped.strip_prefix(PREFIX).ok_or(InvalidToken)?;
        let blob = BASE64.decode(encoded).map_err(|_| InvalidToken)?;
        if blob.len() < NONCE_LEN + TAG_LEN {
            return Err(InvalidToken);
        }
        let (nonce, ciphertext) = blob.split_at(NONCE_LEN);
        let plain = self.cipher().decrypt(Nonce::from_slice(nonce), ciphertext).map_err(|_| InvalidToken)?;
        match String::from_utf8(plain) {
            Ok(text) => Ok(SecretString::from(text)),
            Err(err) => {
                // The bytes are authenticated secret material even if not text: wipe them.
                drop(Zeroizing::new(err.into_bytes()));
                Err(InvalidToken)
            }
        }
    }

    fn cipher(&self) -> Aes256Gcm {
        Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(&self.key))
    }
}

impl Drop for MasterKey {
    fn drop(&mut self) {
        self.key.zeroize();
    }
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MasterKey").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    const SECRET: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn same_secret_sees_through_the_wrapping() {
        let master = MasterKey::new(&"m".repeat(32)).unwrap();
        let (a, again, b) = (master.wrap("first secret"), master.wrap("first secret"), master.wrap("second secret"));
        assert_ne!(a, again, "each wrapping has its own nonce");
        assert!(master.same_secret(&a, &again));
        assert!(!master.same_secret(&a, &b));
        assert!(!master.same_secret(&a, "v1:not-a-token"));
    }

    #[test]
    fn short_master_secret_is_refused_with_its_length() {
        let err = MasterKey::new("too short").unwrap_err();
        assert_eq!(err, MasterKeyError::TooShort { len: 9 });
        assert_eq!(err.to_string(), "AIRLOCK_MASTER_SECRET is 9 characters long; at least 32 are required");
        // Characters, not bytes: 31 two-byte characters are still too short.
        let err = MasterKey::new(&"é".repeat(31)).unwrap_err();
        assert_eq!(err, MasterKeyError::TooShort { len: 31 });
        assert!(MasterKey::new(&"é".repeat(32)).is_ok());
    }

    #[test]
    fn wrap_round_trips_and_never_repeats() {
        let key = MasterKey::new(SECRET).unwrap();
        let a = key.wrap("the shared secret");
        let b = key.wrap("the shared secret");
        assert!(a.starts_with("v1:"));
        assert_ne!(a, b);
        assert_eq!(key.unwrap(&a).unwrap().expose_secret(), "the shared secret");
        assert_eq!(key.unwrap(&b).unwrap().expose_secret(), "the shared secret");
        assert_eq!(key.unwrap(&key.wrap("")).unwrap().expose_secret(), "");
    }

    #[test]
    fn another_master_key_cannot_unwrap() {
        let wrapped = MasterKey::new(SECRET).unwrap().wrap("s3cret");
        let other = MasterKey::new("another master secret of enough length").unwrap();
        let err = other.unwrap(&wrapped).unwrap_err();
        assert_eq!(err, InvalidToken);
        assert_eq!(err.to_string(), "InvalidToken");
    }

    #[test]
    fn malformed_tokens_are_invalid() {
        let key = MasterKey::new(SECRET).unwrap();
        let good = key.wrap("s3cret");
        let mut blob = BASE64.decode(&good[3..]).unwrap();
        blob[NONCE_LEN] ^= 1;
        let tampered = format!("v1:{}", BASE64.encode(&blob));
        let short = format!("v1:{}", BASE64.encode([0u8; NONCE_LEN + TAG_LEN - 1]));
        for token in [&good[3..], "v2:AAAA", "v1:not base64!", short.as_str(), tampered.as_str(), ""] {
            assert_eq!(key.unwrap(token).unwrap_err(), InvalidToken, "{token}");
        }
    }

    #[test]
    fn key_derivation_matches_known_answer() {
        let key = MasterKey::new(SECRET).unwrap();
        assert_eq!(hex::encode(key.key), "e2465afb41c28a7ff1a555a8592e055da9af8cb72406ea2831169bd999c3ef70");
    }

    #[test]
    fn debug_does_not_show_the_key() {
        let key = MasterKey::new(SECRET).unwrap();
        assert_eq!(format!("{key:?}"), "MasterKey { .. }");
    }
}
