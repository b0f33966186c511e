use super::*;
use airlock_domain::{InfosecLevel, ManifestEntry, ShardEntries, ShardRef};

const SHARED_ID: &str = "acme-1x";
const SECRET: &str = "correct horse battery staple";
const NOW: Millis = 1_700_000_000_000;
const HOUR: Millis = 3_600_000;
/// Argon2id at its cheapest: these tests are about the manifest, not the derivation's cost.
const CHEAP: KdfParams = KdfParams { memory_kib: 64, iterations: 1, lanes: 1 };

fn derive(secret: &str, shared_id: &str) -> ChannelKeys {
    ChannelKeys::derive_with(secret, shared_id, CHEAP).unwrap()
}

fn header() -> Vec<u8> {
    header_prefix(CHEAP)
}

fn entry() -> ManifestEntry {
    ManifestEntry {
        resource_id: "r1".into(),
        revision_id: "v1".into(),
        name: "report.pdf".into(),
        size: 1234,
        sha256: "ab".repeat(32),
        object_key: "acme-1x/objects/r1.v1".into(),
        tags: ["blue".to_string()].into_iter().collect(),
        level: InfosecLevel::new("internal", 1),
    }
}

/// The shards of a `count`-shard publish holding `entry()` in shard 2 (wherever it hashes:
/// these tests are about the wire checks, not the policy's).
fn shards(count: u32) -> Vec<ShardEntries> {
    (0..count)
        .map(|shard| ShardEntries {
            shared_id: SHARED_ID.into(),
            shard,
            shard_count: count,
            resources: if shard == 2 { vec![entry()] } else { vec![] },
        })
        .collect()
}

fn manifest_of(count: u32) -> Manifest {
    Manifest {
        version: MANIFEST_FORMAT_VERSION,
        shared_id: SHARED_ID.into(),
        shard_count: count,
        sequence: 7,
        generated_at: NOW,
        expires_at: NOW + HOUR,
        max_level: InfosecLevel::new("secret", 3),
        shards: shards(count).iter().map(|s| s.to_object().1).collect(),
    }
}

fn manifest() -> Manifest {
    manifest_of(4)
}

fn expect() -> ManifestExpectations<'static> {
    ManifestExpectations { shared_id: SHARED_ID, last_applied_sequence: Some(6), now: NOW + 1, max_bytes: 64 * 1024 }
}

fn keys() -> ChannelKeys {
    derive(SECRET, SHARED_ID)
}

fn open(sealed: &[u8], expect: &ManifestExpectations) -> Result<Manifest, ManifestError> {
    open_manifest(&keys(), sealed, expect)
}

#[test]
fn sealed_manifest_opens() {
    let sealed = seal_manifest(&keys(), &manifest());
    assert!(sealed.starts_with(b"airlock-manifest v2 argon2id-m64-t1-p1 hmac-sha256 "));
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
    let at = header().len();
    sealed[at] = if sealed[at] == b'0' { b'1' } else { b'0' };
    assert_eq!(open(&sealed, &expect()).unwrap_err(), ManifestError::BadMac);
}

#[test]
fn manifest_sealed_with_another_secret_fails_the_mac() {
    let other = derive("another shared secret", SHARED_ID);
    let sealed = seal_manifest(&other, &manifest());
    assert_eq!(open(&sealed, &expect()).unwrap_err(), ManifestError::BadMac);
}

#[test]
fn keys_derived_for_another_shared_id_fail_the_mac() {
    // Same secret and a body that names our shared ID: only the derivation salt differs.
    let other = derive(SECRET, "acme-2x");
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
    let forged = seal_manifest(&derive("forger", SHARED_ID), &manifest());
    assert!(matches!(open(&forged, &tight).unwrap_err(), ManifestError::TooLarge { .. }));
    let exact = ManifestExpectations { max_bytes: sealed.len(), ..expect() };
    assert!(open(&sealed, &exact).is_ok());
}

#[test]
fn a_shard_opens_only_with_the_digest_the_root_gives_it() {
    let root = manifest();
    let (bytes, _) = shards(4)[2].to_object();
    let shard_ref = &root.shards[2];
    assert_eq!(open_shard(&root, shard_ref, &bytes, 64 * 1024).unwrap().resources, vec![entry()]);

    let mut tampered = bytes.clone();
    let at = tampered.len() - 5;
    tampered[at] ^= 0x01;
    let err = open_shard(&root, shard_ref, &tampered, 64 * 1024).unwrap_err();
    assert_eq!(err, ManifestError::ShardDigestMismatch { shard: 2, key: shard_ref.key.clone() });
    assert!(err.to_string().ends_with("do not match the digest the signed manifest gives them"), "{err}");
    // Another run's shard, or another shard of this run, is refused the same way.
    let (other, _) = shards(4)[1].to_object();
    assert!(matches!(open_shard(&root, shard_ref, &other, 64 * 1024), Err(ManifestError::ShardDigestMismatch { .. })));
    assert!(matches!(open_shard(&root, shard_ref, &bytes, 16), Err(ManifestError::TooLarge { .. })));
}

#[test]
fn a_shard_whose_content_disagrees_with_its_root_is_refused() {
    // The sender's own mistakes (or a partner holding the secret): digest right, content off.
    let mut root = manifest();
    let mut lying = shards(4)[2].clone();
    lying.shard = 3;
    let (bytes, shard_ref) = lying.to_object();
    root.shards[2] = ShardRef { shard: 2, ..shard_ref };
    let err = open_shard(&root, &root.shards[2], &bytes, 64 * 1024).unwrap_err();
    assert_eq!(err.to_string(), "manifest rejected: shard 3 found where shard 2 was expected");

    let mut fewer = shards(4)[2].clone();
    fewer.shard_count = 2;
    let (bytes, shard_ref) = fewer.to_object();
    let err = open_shard(&root, &shard_ref, &bytes, 64 * 1024).unwrap_err();
    assert!(err.to_string().contains("1 entries of 2 shard(s), where the signed manifest says 1 of 4"), "{err}");
}

#[test]
fn a_root_must_list_each_shard_once_at_its_digest_key() {
    let mut short = manifest();
    short.shards.pop();
    let err = check_bounds(&short, &bounds()).unwrap_err();
    assert_eq!(err.to_string(), "manifest rejected: shard 3: 3 shard(s) listed for a shard count of 4");

    let mut swapped = manifest();
    swapped.shards.swap(0, 1);
    assert!(check_bounds(&swapped, &bounds()).unwrap_err().to_string().contains("listed in place of shard 0"));

    let mut elsewhere = manifest();
    elsewhere.shards[1].key = "acme-1x/objects/r1.v1".into();
    let err = check_bounds(&elsewhere, &bounds()).unwrap_err();
    assert!(err.to_string().contains("is not its digest's place"), "{err}");
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
    other.version = 3;
    let err = open(&seal_manifest(&keys(), &other), &expect()).unwrap_err();
    assert_eq!(err, ManifestError::UnsupportedVersion(3));
    assert_eq!(err.to_string(), "manifest rejected: format version 3 is not supported (this build reads version 2)");
}

#[test]
fn a_format_1_manifest_is_named_as_such() {
    // What a sender of the previous format signs: one manifest per shard, entries inline.
    let body = br#"{"version":1,"shared_id":"acme-1x","shard":0,"shard_count":1,"sequence":7,"resources":[]}"#;
    let mut mac = mac(&keys());
    mac.update(body);
    let sealed =
        [header(), hex::encode(mac.finalize().into_bytes()).into_bytes(), b"\n".to_vec(), body.to_vec()].concat();
    assert_eq!(open(&sealed, &expect()).unwrap_err(), ManifestError::UnsupportedVersion(1));
}

#[test]
fn malformed_inputs_are_refused() {
    let sealed = seal_manifest(&keys(), &manifest());
    let no_newline: Vec<u8> = sealed.iter().copied().filter(|&b| b != b'\n').collect();
    let mut wrong_prefix = sealed.clone();
    wrong_prefix[0] = b'X';
    let mut upper = sealed.clone();
    upper[header().len()..header().len() + MAC_HEX_LEN].make_ascii_uppercase();
    for bad in [&b""[..], &no_newline, &wrong_prefix, &upper] {
        assert!(matches!(open(bad, &expect()), Err(ManifestError::Malformed(_))));
    }
    // A correctly signed body that is not a manifest is malformed, not a MAC failure.
    let body = b"{\"hello\":1}";
    let mut mac = mac(&keys());
    mac.update(body);
    let mut signed = header();
    signed.extend_from_slice(hex::encode(mac.finalize().into_bytes()).as_bytes());
    signed.push(b'\n');
    signed.extend_from_slice(body);
    let err = open(&signed, &expect()).unwrap_err();
    assert!(err.to_string().starts_with("manifest rejected: malformed manifest: "), "{err}");
}

#[test]
fn v1_manifests_are_refused_as_retired() {
    let sealed = seal_manifest(&keys(), &manifest());
    let newline = sealed.iter().position(|&b| b == b'\n').unwrap();
    let mac = &sealed[newline - MAC_HEX_LEN..];
    let v1 = [&b"airlock-manifest v1 hmac-sha256 "[..], mac].concat();
    let err = open(&v1, &expect()).unwrap_err();
    assert_eq!(err, ManifestError::RetiredVersion);
    assert!(err.to_string().contains("the sender must upgrade to 'airlock-manifest v2'"), "{err}");
}

#[test]
fn a_derivation_above_the_local_maximum_is_refused_before_the_mac() {
    // A forged header asking for 1 GiB: refused for its cost, whatever its MAC.
    let sealed = seal_manifest(&keys(), &manifest());
    let costly = KdfParams { memory_kib: 1 << 20, iterations: 3, lanes: 4 };
    let forged = [header_prefix(costly), sealed[header().len()..].to_vec()].concat();
    let limited = keys().with_max_kdf_memory_kib(65536);
    let err = open_manifest(&limited, &forged, &expect()).unwrap_err();
    assert_eq!(
        err,
        ManifestError::KdfTooCostly { params: "argon2id-m1048576-t3-p4".into(), memory_kib: 1 << 20, max_kib: 65536 }
    );
    assert_eq!(
        err.to_string(),
        "manifest rejected: key derivation argon2id-m1048576-t3-p4 needs 1048576 KiB of memory, above this \
         platform's maximum of 65536 KiB (AIRLOCK_MAX_KDF_MEMORY_KIB); nothing was derived"
    );
    // The same bound is the receiver's to set: a tighter one refuses the default parameters.
    let tight = keys().with_max_kdf_memory_kib(32);
    assert!(matches!(open_manifest(&tight, &sealed, &expect()), Err(ManifestError::KdfTooCostly { max_kib: 32, .. })));
}

#[test]
fn a_derivation_other_than_the_keys_is_refused() {
    let sealed = seal_manifest(&keys(), &manifest());
    let other = KdfParams { memory_kib: 128, iterations: 1, lanes: 1 };
    let relabelled = [header_prefix(other), sealed[header().len()..].to_vec()].concat();
    let err = open(&relabelled, &expect()).unwrap_err();
    assert_eq!(
        err,
        ManifestError::KdfMismatch { found: "argon2id-m128-t1-p1".into(), expected: "argon2id-m64-t1-p1".into() }
    );
    assert_eq!(
        err.to_string(),
        "manifest rejected: key derivation argon2id-m128-t1-p1 is not argon2id-m64-t1-p1, the one this connection's keys use"
    );
    let garbled = [&b"airlock-manifest v2 scrypt-n1 hmac-sha256 "[..], &sealed[header().len()..]].concat();
    let err = open(&garbled, &expect()).unwrap_err();
    assert_eq!(
        err,
        ManifestError::Malformed(
            "header key derivation 'scrypt-n1' is not 'argon2id-m<KiB>-t<passes>-p<lanes>'".into()
        )
    );
}

fn bounds() -> ManifestBounds {
    ManifestBounds { max_shards: 8, max_ttl: 2 * HOUR, clock_skew: 5 * 60_000, now: NOW }
}

#[test]
fn a_manifest_within_the_local_bounds_passes() {
    assert_eq!(check_bounds(&manifest(), &bounds()), Ok(()));
    let edge = Manifest { generated_at: NOW + 5 * 60_000, expires_at: NOW + 5 * 60_000 + 2 * HOUR, ..manifest_of(8) };
    assert_eq!(check_bounds(&edge, &bounds()), Ok(()), "at each bound exactly");
}

#[test]
fn a_shard_count_above_the_local_maximum_or_zero_is_refused() {
    for count in [9, 0, u32::MAX] {
        let err = check_bounds(&Manifest { shard_count: count, ..manifest() }, &bounds()).unwrap_err();
        assert_eq!(err, ManifestError::ShardCount { count, max: 8 });
        assert_eq!(
            err.to_string(),
            format!(
                "manifest rejected: shard count {count} is outside 1..=8, this platform's maximum (AIRLOCK_MAX_SHARDS)"
            )
        );
    }
}

#[test]
fn an_expiry_beyond_the_local_maximum_lifetime_is_refused() {
    let far = Manifest { expires_at: NOW + 5 * 60_000 + 2 * HOUR + 1, ..manifest() };
    let err = check_bounds(&far, &bounds()).unwrap_err();
    assert!(matches!(err, ManifestError::ExpiresTooLate { .. }), "{err}");
    assert_eq!(
        err.to_string(),
        "manifest rejected: expires at 2023-11-15T00:18:20.001Z, after 2023-11-15T00:18:20Z: a manifest may live \
         at most 7200 s (AIRLOCK_MAX_MANIFEST_TTL_SECS) plus the allowed clock skew"
    );
    let forever = Manifest { expires_at: i64::MAX, ..manifest() };
    assert!(matches!(check_bounds(&forever, &bounds()), Err(ManifestError::ExpiresTooLate { .. })));
}

#[test]
fn a_manifest_generated_in_the_future_beyond_the_clock_skew_is_refused() {
    let ahead = Manifest { generated_at: NOW + 5 * 60_000 + 1, ..manifest() };
    let err = check_bounds(&ahead, &bounds()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "manifest rejected: generated at 2023-11-14T22:18:20.001Z, more than the allowed clock skew of 300 s \
         (AIRLOCK_CLOCK_SKEW_SECS) after now (2023-11-14T22:13:20Z)"
    );
}
