//! Signed manifests: one header line carrying the MAC, then the exact JSON body it covers.
//! The MAC is checked over the raw bytes before any JSON parsing, so a forged body never
//! reaches the parser.

use crate::keys::ChannelKeys;
use airlock_domain::{Manifest, Millis, MANIFEST_FORMAT_VERSION};
use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

const HEADER_PREFIX: &[u8] = b"airlock-manifest v1 hmac-sha256 ";
const MAC_HEX_LEN: usize = 64;

/// What the receiver knows independently of the manifest, and checks it against.
#[derive(Clone, Copy, Debug)]
pub struct ManifestExpectations<'a> {
    pub shared_id: &'a str,
    pub shard: u32,
    /// `None` when nothing has been applied yet for this shard.
    pub last_applied_sequence: Option<u64>,
    pub now: Millis,
    pub max_bytes: usize,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ManifestError {
    #[error("manifest rejected: {size} bytes exceeds the {max}-byte bound")]
    TooLarge { size: usize, max: usize },
    #[error("manifest rejected: malformed manifest: {0}")]
    Malformed(String),
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
    #[error("manifest rejected: expired at {} (now {})", rfc3339(*.expires_at), rfc3339(*.now))]
    Expired { expires_at: Millis, now: Millis },
    #[error("manifest rejected: sequence {sequence} is not newer than the last applied {last} (replay or rollback)")]
    NotNewer { sequence: u64, last: u64 },
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
    let mut sealed = Vec::with_capacity(HEADER_PREFIX.len() + tag.len() + 1 + body.len());
    sealed.extend_from_slice(HEADER_PREFIX);
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
    let (tag, body) = split_header(sealed)?;
    let mut mac = mac(keys);
    mac.update(body);
    mac.verify_slice(&tag).map_err(|_| ManifestError::BadMac)?;

    let manifest: Manifest = serde_json::from_slice(body)
        .map_err(|e| ManifestError::Malformed(format!("body is not a valid manifest: {e}")))?;
    if manifest.version != MANIFEST_FORMAT_VERSION {
        return Err(ManifestError::UnsupportedVersion(manifest.version));
    }
    if manifest.shared_id != expect.shared_id {
        return Err(ManifestError::SharedIdMismatch {
            expected: expect.shared_id.to_owned(),
            found: manifest.shared_id,
        });
    }
    if manifest.shard != expect.shard {
        return Err(ManifestError::ShardMismatch { expected: expect.shard, found: manifest.shard });
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

/// Splits the header line off and decodes its MAC; the body is returned untouched.
fn split_header(sealed: &[u8]) -> Result<([u8; 32], &[u8]), ManifestError> {
    let newline =
        sealed.iter().position(|&b| b == b'\n').ok_or_else(|| ManifestError::Malformed("no header line".into()))?;
    let (line, body) = (&sealed[..newline], &sealed[newline + 1..]);
    let tag_hex = line
        .strip_prefix(HEADER_PREFIX)
        .ok_or_else(|| ManifestError::Malformed("header is not 'airlock-manifest v1 hmac-sha256'".into()))?;
    // Only the lowercase form that `seal_manifest` writes is accepted: one encoding per MAC.
    if tag_hex.len() != MAC_HEX_LEN || !tag_hex.iter().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return Err(ManifestError::Malformed("header MAC is not 64 lowercase hex digits".into()));
    }
    let mut tag = [0u8; 32];
    hex::decode_to_slice(tag_hex, &mut tag).map_err(|e| ManifestError::Malformed(format!("header MAC: {e}")))?;
    Ok((tag, body))
}

#[cfg(test)]
mod tests {
    use super::*;
    use airlock_domain::{InfosecLevel, ManifestEntry};

    const SHARED_ID: &str = "acme-1x";
    const SECRET: &str = "correct horse battery staple";
    const NOW: Millis = 1_700_000_000_000;
    const HOUR: Millis = 3_600_000;

    fn manifest() -> Manifest {
        Manifest {
            version: MANIFEST_FORMAT_VERSION,
            shared_id: SHARED_ID.into(),
            shard: 2,
            shard_count: 4,
            sequence: 7,
            generated_at: NOW,
            expires_at: NOW + HOUR,
            max_level: InfosecLevel::new("secret", 3),
            resources: vec![ManifestEntry {
                resource_id: "r1".into(),
                revision_id: "v1".into(),
                name: "report.pdf".into(),
                size: 1234,
                sha256: "ab".repeat(32),
                object_key: "acme-1x/shard2/objects/r1/v1".into(),
                tags: ["blue".to_string()].into_iter().collect(),
                level: InfosecLevel::new("internal", 1),
            }],
            removed: vec!["r0".into()],
        }
    }

    fn expect() -> ManifestExpectations<'static> {
        ManifestExpectations {
            shared_id: SHARED_ID,
            shard: 2,
            last_applied_sequence: Some(6),
            now: NOW + 1,
            max_bytes: 64 * 1024,
        }
    }

    fn keys() -> ChannelKeys {
        ChannelKeys::derive(SECRET, SHARED_ID)
    }

    fn open(sealed: &[u8], expect: &ManifestExpectations) -> Result<Manifest, ManifestError> {
        open_manifest(&keys(), sealed, expect)
    }

    #[test]
    fn sealed_manifest_opens() {
        let sealed = seal_manifest(&keys(), &manifest());
        assert!(sealed.starts_with(b"airlock-manifest v1 hmac-sha256 "));
        assert_eq!(open(&sealed, &expect()).unwrap(), manifest());
        let first = ManifestExpectations { last_applied_sequence: None, ..expect() };
        assert_eq!(open(&sealed, &first).unwrap(), manifest());
    }

    #[test]
    fn tampered_body_byte_fails_the_mac() {
        let mut sealed = seal_manifest(&keys(), &manifest());
        let at = sealed.len() - 10;
        sealed[at] ^= 0x01;
        let err = open(&sealed, &expect()).unwrap_err();
        assert_eq!(err, ManifestError::BadMac);
        assert_eq!(
            err.to_string(),
            "manifest rejected: MAC verification failed (wrong shared secret or tampered manifest)"
        );
    }

    #[test]
    fn tampered_header_mac_fails_the_mac() {
        let mut sealed = seal_manifest(&keys(), &manifest());
        let at = HEADER_PREFIX.len();
        sealed[at] = if sealed[at] == b'0' { b'1' } else { b'0' };
        assert_eq!(open(&sealed, &expect()).unwrap_err(), ManifestError::BadMac);
    }

    #[test]
    fn manifest_sealed_with_another_secret_fails_the_mac() {
        let other = ChannelKeys::derive("another shared secret", SHARED_ID);
        let sealed = seal_manifest(&other, &manifest());
        assert_eq!(open(&sealed, &expect()).unwrap_err(), ManifestError::BadMac);
    }

    #[test]
    fn keys_derived_for_another_shared_id_fail_the_mac() {
        // Same secret and a body that names our shared ID: only the derivation salt differs.
        let other = ChannelKeys::derive(SECRET, "acme-2x");
        let sealed = seal_manifest(&other, &manifest());
        assert_eq!(open(&sealed, &expect()).unwrap_err(), ManifestError::BadMac);
    }

    #[test]
    fn replayed_older_or_equal_sequence_is_not_newer() {
        let sealed = seal_manifest(&keys(), &manifest());
        let equal = ManifestExpectations { last_applied_sequence: Some(7), ..expect() };
        let err = open(&sealed, &equal).unwrap_err();
        assert_eq!(err, ManifestError::NotNewer { sequence: 7, last: 7 });
        assert_eq!(
            err.to_string(),
            "manifest rejected: sequence 7 is not newer than the last applied 7 (replay or rollback)"
        );
        let older = ManifestExpectations { last_applied_sequence: Some(9), ..expect() };
        assert_eq!(open(&sealed, &older).unwrap_err(), ManifestError::NotNewer { sequence: 7, last: 9 });
    }

    #[test]
    fn expired_manifest_is_refused() {
        let sealed = seal_manifest(&keys(), &manifest());
        let at_expiry = ManifestExpectations { now: NOW + HOUR, ..expect() };
        let err = open(&sealed, &at_expiry).unwrap_err();
        assert_eq!(err, ManifestError::Expired { expires_at: NOW + HOUR, now: NOW + HOUR });
        let later = ManifestExpectations { now: NOW + 2 * HOUR + 5, ..expect() };
        assert_eq!(
            open(&sealed, &later).unwrap_err().to_string(),
            "manifest rejected: expired at 2023-11-14T23:13:20Z (now 2023-11-15T00:13:20.005Z)"
        );
    }

    #[test]
    fn oversized_manifest_is_refused_before_the_mac() {
        let sealed = seal_manifest(&keys(), &manifest());
        let tight = ManifestExpectations { max_bytes: sealed.len() - 1, ..expect() };
        let err = open(&sealed, &tight).unwrap_err();
        assert_eq!(err, ManifestError::TooLarge { size: sealed.len(), max: sealed.len() - 1 });
        assert_eq!(
            err.to_string(),
            format!("manifest rejected: {} bytes exceeds the {}-byte bound", sealed.len(), sealed.len() - 1)
        );
        // A forged manifest is refused for its size, showing the MAC was never computed.
        let forged = seal_manifest(&ChannelKeys::derive("forger", SHARED_ID), &manifest());
        assert!(matches!(open(&forged, &tight).unwrap_err(), ManifestError::TooLarge { .. }));
        let exact = ManifestExpectations { max_bytes: sealed.len(), ..expect() };
        assert!(open(&sealed, &exact).is_ok());
    }

    #[test]
    fn wrong_shard_is_refused() {
        let mut other = manifest();
        other.shard = 3;
        let err = open(&seal_manifest(&keys(), &other), &expect()).unwrap_err();
        assert_eq!(err, ManifestError::ShardMismatch { expected: 2, found: 3 });
        assert_eq!(err.to_string(), "manifest rejected: shard 3 found where shard 2 was expected");
    }

    #[test]
    fn wrong_shared_id_is_refused() {
        let mut other = manifest();
        other.shared_id = "evil-9z".into();
        let err = open(&seal_manifest(&keys(), &other), &expect()).unwrap_err();
        assert_eq!(err, ManifestError::SharedIdMismatch { expected: SHARED_ID.into(), found: "evil-9z".into() });
        assert_eq!(err.to_string(), "manifest rejected: shared ID 'evil-9z' does not match the connection's 'acme-1x'");
    }

    #[test]
    fn unsupported_version_is_refused() {
        let mut other = manifest();
        other.version = 2;
        let err = open(&seal_manifest(&keys(), &other), &expect()).unwrap_err();
        assert_eq!(err, ManifestError::UnsupportedVersion(2));
        assert_eq!(
            err.to_string(),
            "manifest rejected: format version 2 is not supported (this build reads version 1)"
        );
    }

    #[test]
    fn malformed_inputs_are_refused() {
        let sealed = seal_manifest(&keys(), &manifest());
        let no_newline: Vec<u8> = sealed.iter().copied().filter(|&b| b != b'\n').collect();
        let mut wrong_prefix = sealed.clone();
        wrong_prefix[0] = b'X';
        let mut upper = sealed.clone();
        upper[HEADER_PREFIX.len()..HEADER_PREFIX.len() + MAC_HEX_LEN].make_ascii_uppercase();
        for bad in [&b""[..], &no_newline, &wrong_prefix, &upper] {
            assert!(matches!(open(bad, &expect()), Err(ManifestError::Malformed(_))));
        }
        // A correctly signed body that is not a manifest is malformed, not a MAC failure.
        let body = b"{\"hello\":1}";
        let mut mac = mac(&keys());
        mac.update(body);
        let mut signed = HEADER_PREFIX.to_vec();
        signed.extend_from_slice(hex::encode(mac.finalize().into_bytes()).as_bytes());
        signed.push(b'\n');
        signed.extend_from_slice(body);
        let err = open(&signed, &expect()).unwrap_err();
        assert!(err.to_string().starts_with("manifest rejected: malformed manifest: "), "{err}");
    }
}
