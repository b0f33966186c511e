//! Signed manifests: one header line naming the key derivation and carrying the MAC, then the
//! exact JSON body it covers: `airlock-manifest v2 argon2id-m65536-t3-p4 hmac-sha256 <mac>`.
//! The header is checked before anything else (a derivation above the local maximum is
//! refused unopened) and the MAC over the raw bytes before any JSON parsing, so a forged body
//! never reaches the parser. The signed manifest is the root: it names each shard's entries
//! object by the SHA-256 of its bytes, which `open_shard` checks before parsing them.

use crate::keys::{ChannelKeys, KdfParams};
use airlock_domain::manifest::shard_key;
use airlock_domain::{failures, Manifest, Millis, ShardEntries, ShardRef, MANIFEST_FORMAT_VERSION};
use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

const MAGIC: &[u8] = b"airlock-manifest ";
const VERSION: &[u8] = b"v2 ";
const RETIRED_VERSION: &[u8] = b"v1 ";
const MAC_NAME: &[u8] = b" hmac-sha256 ";
const MAC_HEX_LEN: usize = 64;

/// What the receiver knows independently of the manifest, and checks it against.
#[derive(Clone, Copy, Debug)]
pub struct ManifestExpectations<'a> {
    pub shared_id: &'a str,
    /// `None` when nothing has been applied yet for this connection.
    pub last_applied_sequence: Option<u64>,
    pub now: Millis,
    pub max_bytes: usize,
}

/// The receiver's own limits on what an authentic manifest may claim: a partner holding the
/// secret still cannot make it loop over millions of shards, keep a manifest valid for years,
/// or date one in the future. Checked by `check_bounds` once the manifest is opened.
#[derive(Clone, Copy, Debug)]
pub struct ManifestBounds {
    pub max_shards: u32,
    /// The longest lifetime, from now, an `expires_at` may give (milliseconds).
    pub max_ttl: Millis,
    /// How far ahead of the local clock the partner's may run (milliseconds).
    pub clock_skew: Millis,
    pub now: Millis,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ManifestError {
    #[error("manifest rejected: {size} bytes exceeds the {max}-byte bound")]
    TooLarge { size: usize, max: usize },
    #[error("manifest rejected: malformed manifest: {0}")]
    Malformed(String),
    #[error(
        "manifest rejected: header 'airlock-manifest v1' uses the retired key derivation (HKDF of the secret alone, \
         which lets a bucket reader test guesses of the secret offline); the sender must upgrade to \
         'airlock-manifest v2'"
    )]
    RetiredVersion,
    #[error(
        "manifest rejected: key derivation {params} needs {memory_kib} KiB of memory, above this platform's maximum \
         of {max_kib} KiB (AIRLOCK_MAX_KDF_MEMORY_KIB); nothing was derived"
    )]
    KdfTooCostly { params: String, memory_kib: u32, max_kib: u32 },
    #[error("manifest rejected: key derivation {found} is not {expected}, the one this connection's keys use")]
    KdfMismatch { found: String, expected: String },
    #[error("manifest rejected: MAC verification failed (wrong shared secret or tampered manifest)")]
    BadMac,
    #[error(
        "manifest rejected: format version {0} is not supported (this build reads version {MANIFEST_FORMAT_VERSION})"
    )]
    UnsupportedVersion(u32),
    #[error("manifest rejected: shared ID '{found}' does not match the connection's '{expected}'")]
    SharedIdMismatch { expected: String, found: String },
    #[error("manifest rejected: shard {found} found where shard {expected} was expected")]
    ShardMismatch { expected: u32, found: u32 },
    #[error("manifest rejected: shard {shard} entries '{key}' do not match the digest the signed manifest gives them")]
    ShardDigestMismatch { shard: u32, key: String },
    #[error("manifest rejected: shard {shard}: {why}")]
    ShardList { shard: u32, why: String },
    #[error("manifest rejected: expired at {} (now {})", rfc3339(*.expires_at), rfc3339(*.now))]
    Expired { expires_at: Millis, now: Millis },
    #[error("manifest rejected: sequence {sequence} is not newer than the last applied {last} (replay or rollback)")]
    NotNewer { sequence: u64, last: u64 },
    #[error("{}", failures::shard_count_out_of_range(*.count, *.max))]
    ShardCount { count: u32, max: u32 },
    #[error("{}", failures::expires_too_late(rfc3339(*.expires_at), rfc3339(*.latest), (*.max_ttl / 1000) as u64))]
    ExpiresTooLate { expires_at: Millis, latest: Millis, max_ttl: Millis },
    #[error("{}", failures::generated_in_the_future(rfc3339(*.generated_at), rfc3339(*.now), (*.skew / 1000) as u64))]
    GeneratedInTheFuture { generated_at: Millis, now: Millis, skew: Millis },
}

/// Falls back to raw milliseconds for instants `time` cannot represent, so that an absurd
/// timestamp still produces a readable refusal.
fn rfc3339(ms: Millis) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_else(|| format!("{ms} ms since the epoch"))
}

fn mac(keys: &ChannelKeys) -> HmacSha256 {
    HmacSha256::new_from_slice(keys.mac_key()).expect("HMAC accepts any key length")
}

pub fn seal_manifest(keys: &ChannelKeys, manifest: &Manifest) -> Vec<u8> {
    let body = serde_json::to_vec(manifest).expect("manifest serializes");
    let mut mac = mac(keys);
    mac.update(&body);
    let tag = hex::encode(mac.finalize().into_bytes());
    let header = header_prefix(keys.params());
    let mut sealed = Vec::with_capacity(header.len() + tag.len() + 1 + body.len());
    sealed.extend_from_slice(&header);
    sealed.extend_from_slice(tag.as_bytes());
    sealed.push(b'\n');
    sealed.extend_from_slice(&body);
    sealed
}

pub fn open_manifest(
    keys: &ChannelKeys,
    sealed: &[u8],
    expect: &ManifestExpectations,
) -> Result<Manifest, ManifestError> {
    // The bound comes first so an oversized object costs nothing beyond reading its length.
    if sealed.len() > expect.max_bytes {
        return Err(ManifestError::TooLarge { size: sealed.len(), max: expect.max_bytes });
    }
    let (params, tag, body) = split_header(sealed)?;
    if params.memory_kib > keys.max_kdf_memory_kib() {
        return Err(ManifestError::KdfTooCostly {
            params: params.label(),
            memory_kib: params.memory_kib,
            max_kib: keys.max_kdf_memory_kib(),
        });
    }
    if params != keys.params() {
        return Err(ManifestError::KdfMismatch { found: params.label(), expected: keys.params().label() });
    }
    let mut mac = mac(keys);
    mac.update(body);
    mac.verify_slice(&tag).map_err(|_| ManifestError::BadMac)?;

    // The version first: a sender of another format gets that named, not a parse error.
    #[derive(serde::Deserialize)]
    struct Versioned {
        version: u32,
    }
    let versioned: Versioned = serde_json::from_slice(body)
        .map_err(|e| ManifestError::Malformed(format!("body is not a valid manifest: {e}")))?;
    if versioned.version != MANIFEST_FORMAT_VERSION {
        return Err(ManifestError::UnsupportedVersion(versioned.version));
    }
    let manifest: Manifest = serde_json::from_slice(body)
        .map_err(|e| ManifestError::Malformed(format!("body is not a valid manifest: {e}")))?;
    if manifest.shared_id != expect.shared_id {
        return Err(ManifestError::SharedIdMismatch {
            expected: expect.shared_id.to_owned(),
            found: manifest.shared_id,
        });
    }
    if manifest.expires_at <= expect.now {
        return Err(ManifestError::Expired { expires_at: manifest.expires_at, now: expect.now });
    }
    if let Some(last) = expect.last_applied_sequence {
        if manifest.sequence <= last {
            return Err(ManifestError::NotNewer { sequence: manifest.sequence, last });
        }
    }
    Ok(manifest)
}

/// Opens one shard's entries object, fetched at the key the verified root names: its bytes
/// must have the root's digest before they are parsed, so they are exactly what the sender
/// signed for this run.
pub fn open_shard(
    root: &Manifest,
    shard_ref: &ShardRef,
    bytes: &[u8],
    max_bytes: usize,
) -> Result<ShardEntries, ManifestError> {
    if bytes.len() > max_bytes {
        return Err(ManifestError::TooLarge { size: bytes.len(), max: max_bytes });
    }
    let digest = hex::encode(<Sha256 as sha2::Digest>::digest(bytes));
    if digest != shard_ref.sha256 {
        return Err(ManifestError::ShardDigestMismatch { shard: shard_ref.shard, key: shard_ref.key.clone() });
    }
    let entries: ShardEntries = serde_json::from_slice(bytes)
        .map_err(|e| ManifestError::Malformed(format!("shard {} entries are not valid: {e}", shard_ref.shard)))?;
    if entries.shared_id != root.shared_id {
        return Err(ManifestError::SharedIdMismatch { expected: root.shared_id.clone(), found: entries.shared_id });
    }
    if entries.shard != shard_ref.shard {
        return Err(ManifestError::ShardMismatch { expected: shard_ref.shard, found: entries.shard });
    }
    if entries.shard_count != root.shard_count || entries.resources.len() != shard_ref.entries as usize {
        let why = format!(
            "{} entries of {} shard(s), where the signed manifest says {} of {}",
            entries.resources.len(),
            entries.shard_count,
            shard_ref.entries,
            root.shard_count
        );
        return Err(ManifestError::ShardList { shard: shard_ref.shard, why });
    }
    Ok(entries)
}

/// Checks an opened manifest against the local bounds (see `ManifestBounds`).
pub fn check_bounds(manifest: &Manifest, bounds: &ManifestBounds) -> Result<(), ManifestError> {
    if manifest.shard_count == 0 || manifest.shard_count > bounds.max_shards {
        return Err(ManifestError::ShardCount { count: manifest.shard_count, max: bounds.max_shards });
    }
    if manifest.shards.len() != manifest.shard_count as usize {
        let why = format!("{} shard(s) listed for a shard count of {}", manifest.shards.len(), manifest.shard_count);
        return Err(ManifestError::ShardList { shard: manifest.shards.len() as u32, why });
    }
    for (k, shard_ref) in manifest.shards.iter().enumerate() {
        let list = |why: String| Err(ManifestError::ShardList { shard: k as u32, why });
        if shard_ref.shard != k as u32 {
            return list(format!("listed in place of shard {k}"));
        }
        // The key is derived from the digest, so an entry cannot point anywhere else.
        if !is_lower_hex(shard_ref.sha256.as_bytes())
            || shard_ref.key != shard_key(&manifest.shared_id, shard_ref.shard, &shard_ref.sha256)
        {
            return list(format!("key '{}' is not its digest's place", shard_ref.key));
        }
    }
    let ahead = bounds.now.saturating_add(bounds.clock_skew);
    if manifest.generated_at > ahead {
        return Err(ManifestError::GeneratedInTheFuture {
            generated_at: manifest.generated_at,
            now: bounds.now,
            skew: bounds.clock_skew,
        });
    }
    // The skew counts here too: a partner whose clock runs ahead dates its expiry ahead as well.
    let latest = ahead.saturating_add(bounds.max_ttl);
    if manifest.expires_at > latest {
        return Err(ManifestError::ExpiresTooLate { expires_at: manifest.expires_at, latest, max_ttl: bounds.max_ttl });
    }
    Ok(())
}

/// The one spelling `seal_manifest` writes for a MAC or digest: 64 lowercase hex digits.
fn is_lower_hex(hex: &[u8]) -> bool {
    hex.len() == MAC_HEX_LEN && hex.iter().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// `airlock-manifest v2 <kdf> hmac-sha256 `, the part of the header before the MAC.
fn header_prefix(params: KdfParams) -> Vec<u8> {
    [MAGIC, VERSION, params.label().as_bytes(), MAC_NAME].concat()
}

/// Splits the header line off and decodes its derivation and MAC; the body is returned untouched.
fn split_header(sealed: &[u8]) -> Result<(KdfParams, [u8; 32], &[u8]), ManifestError> {
    let newline =
        sealed.iter().position(|&b| b == b'\n').ok_or_else(|| ManifestError::Malformed("no header line".into()))?;
    let (line, body) = (&sealed[..newline], &sealed[newline + 1..]);
    let not_ours = || ManifestError::Malformed("header is not 'airlock-manifest v2 <kdf> hmac-sha256 <mac>'".into());
    let rest = line.strip_prefix(MAGIC).ok_or_else(not_ours)?;
    if rest.starts_with(RETIRED_VERSION) {
        return Err(ManifestError::RetiredVersion);
    }
    let rest = rest.strip_prefix(VERSION).ok_or_else(not_ours)?;
    let split = rest.windows(MAC_NAME.len()).position(|w| w == MAC_NAME).ok_or_else(not_ours)?;
    let (label, tag_hex) = (&rest[..split], &rest[split + MAC_NAME.len()..]);
    let params = std::str::from_utf8(label).ok().and_then(KdfParams::parse).ok_or_else(|| {
        ManifestError::Malformed(format!(
            "header key derivation '{}' is not 'argon2id-m<KiB>-t<passes>-p<lanes>'",
            String::from_utf8_lossy(label)
        ))
    })?;
    // Only the lowercase form that `seal_manifest` writes is accepted: one encoding per MAC.
    if !is_lower_hex(tag_hex) {
        return Err(ManifestError::Malformed("header MAC is not 64 lowercase hex digits".into()));
    }
    let mut tag = [0u8; 32];
    hex::decode_to_slice(tag_hex, &mut tag).map_err(|e| ManifestError::Malformed(format!("header MAC: {e}")))?;
    Ok((params, tag, body))
}

#[cfg(test)]
#[path = "manifest_tests.rs"]
mod tests;
