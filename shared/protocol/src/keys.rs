//! Keys derived from a connection's shared secret. Argon2id makes every guess of the secret
//! cost its memory and time, so a bucket reader holding a manifest cannot test guesses at
//! speed; the shared ID salts the derivation so that two connections that happen to share a
//! secret still get unrelated keys. The Argon2id output (the root key) is expanded with HKDF
//! into the manifest MAC key and one payload key per revision.

use crate::secret::{InvalidToken, MasterKey};
use hkdf::Hkdf;
use rand::RngCore;
use secrecy::ExposeSecret;
use sha2::{Digest, Sha256};
use std::fmt;
use zeroize::{Zeroize, Zeroizing};

const MANIFEST_MAC_INFO: &[u8] = b"airlock manifest mac v2";
const PAYLOAD_INFO: &[u8] = b"airlock payload v2";
const PAYLOAD_KEY_INFO: &[u8] = b"airlock payload key v2:";
const KEY_ID_INFO: &[u8] = b"airlock key id v2";
/// Prefixed to the shared ID as the Argon2id salt, so the salt is never shorter than
/// Argon2's 8-byte minimum and never collides with another use of the same secret.
const SALT_LABEL: &[u8] = b"airlock channel v2:";
const STORED_PREFIX: &str = "airlock-channel-key v2";
/// 32 symbols, no 0/1/8/9, so that a secret read aloud or copied by hand is not misread.
const SECRET_ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";
const SECRET_GROUPS: usize = 6;
const SECRET_GROUP_LEN: usize = 5;

/// Argon2id cost parameters. Named in every manifest header (`argon2id-m65536-t3-p4`) so a
/// receiver knows what a sender derived with and can refuse what it will not pay for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KdfParams {
    pub memory_kib: u32,
    pub iterations: u32,
    pub lanes: u32,
}

impl KdfParams {
    /// RFC 9106's second recommended option: 64 MiB, 3 passes, 4 lanes.
    pub const RFC9106_SECOND: KdfParams = KdfParams { memory_kib: 65536, iterations: 3, lanes: 4 };

    pub fn label(&self) -> String {
        format!("argon2id-m{}-t{}-p{}", self.memory_kib, self.iterations, self.lanes)
    }

    /// The inverse of [`KdfParams::label`]; only its exact form is accepted.
    pub fn parse(label: &str) -> Option<KdfParams> {
        let rest = label.strip_prefix("argon2id-m")?;
        let (memory, rest) = rest.split_once("-t")?;
        let (iterations, lanes) = rest.split_once("-p")?;
        let number = |text: &str| -> Option<u32> {
            let canonical = !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) && !text.starts_with('0');
            canonical.then(|| text.parse().ok()).flatten()
        };
        Some(KdfParams { memory_kib: number(memory)?, iterations: number(iterations)?, lanes: number(lanes)? })
    }
}

impl fmt::Display for KdfParams {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.label())
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("key derivation {params} is not valid: {why}")]
pub struct KdfError {
    pub params: String,
    pub why: String,
}

/// A fresh shared secret: 150 bits from the OS RNG as six groups of five base32 letters and
/// digits (`k7qzm-...`), easy to copy and to read aloud.
pub fn generate_shared_secret() -> String {
    let mut bytes = Zeroizing::new([0u8; SECRET_GROUPS * SECRET_GROUP_LEN]);
    rand::rngs::OsRng.fill_bytes(bytes.as_mut());
    // 256 is a multiple of 32, so masking the low five bits keeps every symbol equally likely.
    let symbols: Vec<char> = bytes.iter().map(|b| SECRET_ALPHABET[usize::from(b & 31)] as char).collect();
    let groups: Vec<String> = symbols.chunks(SECRET_GROUP_LEN).map(|g| g.iter().collect()).collect();
    groups.join("-")
}

pub struct ChannelKeys {
    params: KdfParams,
    root: [u8; 32],
    mac_key: [u8; 32],
    payload_master: [u8; 32],
    key_id: [u8; 8],
    max_kdf_memory_kib: u32,
}

impl ChannelKeys {
    /// Argon2id with this build's parameters; costs ~64 MiB and a noticeable fraction of a
    /// second, so callers derive once per secret and keep the result (see [`ChannelKeys::wrap`]).
    pub fn derive(shared_secret: &str, shared_id: &str) -> ChannelKeys {
        Self::derive_with(shared_secret, shared_id, KdfParams::RFC9106_SECOND)
            .expect("the built-in parameters are valid")
    }

    pub fn derive_with(shared_secret: &str, shared_id: &str, params: KdfParams) -> Result<ChannelKeys, KdfError> {
        let invalid = |e: argon2::Error| KdfError { params: params.label(), why: e.to_string() };
        let argon_params =
            argon2::Params::new(params.memory_kib, params.iterations, params.lanes, Some(32)).map_err(invalid)?;
        let argon = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, argon_params);
        let mut salt = SALT_LABEL.to_vec();
        salt.extend_from_slice(shared_id.as_bytes());
        let mut root = [0u8; 32];
        argon.hash_password_into(shared_secret.as_bytes(), &salt, &mut root).map_err(invalid)?;
        let keys = Self::from_root(params, &root);
        root.zeroize();
        Ok(keys)
    }

    fn from_root(params: KdfParams, root: &[u8; 32]) -> ChannelKeys {
        let hkdf = Hkdf::<Sha256>::from_prk(root).expect("a 32-byte root is a valid HKDF-SHA256 PRK");
        let mut keys = ChannelKeys {
            params,
            root: *root,
            mac_key: [0; 32],
            payload_master: [0; 32],
            key_id: [0; 8],
            max_kdf_memory_kib: KdfParams::RFC9106_SECOND.memory_kib,
        };
        hkdf.expand(MANIFEST_MAC_INFO, &mut keys.mac_key).expect("32-byte HKDF output");
        hkdf.expand(PAYLOAD_INFO, &mut keys.payload_master).expect("32-byte HKDF output");
        hkdf.expand(KEY_ID_INFO, &mut keys.key_id).expect("8-byte HKDF output");
        keys
    }

    /// The most memory a manifest's named key derivation may ask for before it is refused
    /// unopened (a partner must not be able to make this platform burn memory).
    pub fn with_max_kdf_memory_kib(mut self, max: u32) -> ChannelKeys {
        self.max_kdf_memory_kib = max;
        self
    }

    pub fn params(&self) -> KdfParams {
        self.params
    }

    pub(crate) fn max_kdf_memory_kib(&self) -> u32 {
        self.max_kdf_memory_kib
    }

    /// The root key encrypted under the master key for storage, bound to the stored form of
    /// the secret it came from: a new secret (a new `wrapped_secret`) no longer matches.
    pub fn wrap(&self, master: &MasterKey, wrapped_secret: &str) -> String {
        let plain = Zeroizing::new(format!(
            "{STORED_PREFIX} {} {} {}",
            self.params.label(),
            binding(wrapped_secret),
            hex::encode(self.root)
        ));
        master.wrap(&plain)
    }

    /// Fails when the token is not ours, or was made for another secret than `wrapped_secret`.
    pub fn unwrap(master: &MasterKey, stored: &str, wrapped_secret: &str) -> Result<ChannelKeys, InvalidToken> {
        let plain = master.unwrap(stored)?;
        let mut parts = plain.expose_secret().split(' ');
        let (Some("airlock-channel-key"), Some("v2"), Some(params), Some(bound), Some(root_hex), None) =
            (parts.next(), parts.next(), parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(InvalidToken);
        };
        let params = KdfParams::parse(params).ok_or(InvalidToken)?;
        if bound != binding(wrapped_secret) {
            return Err(InvalidToken);
        }
        let mut root = Zeroizing::new([0u8; 32]);
        hex::decode_to_slice(root_hex, root.as_mut()).map_err(|_| InvalidToken)?;
        Ok(Self::from_root(params, &root))
    }

    /// One key per revision, so a chunk can never be moved from one revision's payload into
    /// another's even if both happened to pick the same nonce prefix.
    pub fn payload_key(&self, revision_id: &str) -> PayloadKey {
        let mut key = PayloadKey { key: [0; 32] };
        Hkdf::<Sha256>::new(None, &self.payload_master)
            .expand_multi_info(&[PAYLOAD_KEY_INFO, revision_id.as_bytes()], &mut key.key)
            .expect("32-byte HKDF output");
        key
    }

    /// A public name for these keys (16 hex digits), carried in payload object names so that
    /// a new secret publishes under new names and the objects of the old key can stay until
    /// no manifest names them. It tells a bucket reader nothing a manifest's MAC doesn't:
    /// checking a guess against it still costs a full Argon2id derivation.
    pub fn key_id(&self) -> String {
        hex::encode(self.key_id)
    }

    pub(crate) fn mac_key(&self) -> &[u8; 32] {
        &self.mac_key
    }
}

fn binding(wrapped_secret: &str) -> String {
    hex::encode(Sha256::digest(wrapped_secret.as_bytes()))
}

impl Drop for ChannelKeys {
    fn drop(&mut self) {
        self.root.zeroize();
        self.mac_key.zeroize();
        self.payload_master.zeroize();
    }
}

impl fmt::Debug for ChannelKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChannelKeys").field("params", &self.params.label()).finish_non_exhaustive()
    }
}

/// The AES-256-GCM key of one revision's payload stream.
pub struct PayloadKey {
    key: [u8; 32],
}

impl PayloadKey {
    pub(crate) fn bytes(&self) -> &[u8; 32] {
        &self.key
    }
}

impl Drop for PayloadKey {
    fn drop(&mut self) {
        self.key.zeroize();
    }
}

impl fmt::Debug for PayloadKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PayloadKey").finish_non_exhaustive()
    }
}

#[cfg(test)]
#[path = "keys_tests.rs"]
mod tests;
