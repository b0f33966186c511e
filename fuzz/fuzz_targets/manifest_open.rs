//! Opening a manifest read from a partner's bucket: the header, the MAC and, for bodies that
//! carry a valid MAC, the JSON and every check after it. The first byte picks the mode:
//! even, the input is the whole sealed object as a bucket reader could write it; odd, the rest
//! is a body sealed here with the channel's keys (what a partner holding the secret could
//! send), which must open to exactly what was sealed or fail one of the documented checks.
//! With bit 2 set, the rest is a shard's entries object that a signed manifest names by its
//! own digest (what a partner holding the secret could name): it opens or is refused, and
//! never panics.
#![no_main]

use airlock_domain::manifest::shard_key;
use airlock_domain::{InfosecLevel, Manifest, ShardRef, MANIFEST_FORMAT_VERSION};
use airlock_protocol::{
    open_manifest, open_shard, seal_manifest, ChannelKeys, KdfParams, ManifestError, ManifestExpectations,
};
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

const SHARED_ID: &str = "fuzz-shared-id";

/// Cheap derivation parameters: the KDF runs once, the targets fuzz what comes after it.
fn keys() -> &'static ChannelKeys {
    static KEYS: OnceLock<ChannelKeys> = OnceLock::new();
    KEYS.get_or_init(|| {
        let params = KdfParams { memory_kib: 64, iterations: 1, lanes: 1 };
        ChannelKeys::derive_with("fuzz secret that is long enough", SHARED_ID, params).expect("valid parameters")
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else { return };
    let expect = ManifestExpectations {
        shared_id: SHARED_ID,
        last_applied_sequence: (mode & 2 != 0).then_some(7),
        now: 1_700_000_000_000,
        max_bytes: 1 << 20,
    };
    if mode & 4 != 0 {
        let sha256 = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(rest));
        let shard_ref = ShardRef {
            shard: 0,
            key: shard_key(SHARED_ID, 0, &sha256),
            sha256,
            size: rest.len() as u64,
            entries: u32::from(mode >> 4),
            tags: Default::default(),
        };
        let root = Manifest {
            version: MANIFEST_FORMAT_VERSION,
            shared_id: SHARED_ID.into(),
            shard_count: 1,
            sequence: 8,
            generated_at: 0,
            expires_at: i64::MAX,
            max_level: InfosecLevel::new("L0", 0),
            shards: vec![shard_ref.clone()],
        };
        let _ = open_shard(&root, &shard_ref, rest, expect.max_bytes);
        return;
    }
    if mode & 1 == 0 {
        // Nothing unsigned may open.
        if let Ok(manifest) = open_manifest(keys(), rest, &expect) {
            panic!("an unsealed input opened: {manifest:?}");
        }
        return;
    }
    let Ok(manifest) = serde_json::from_slice::<Manifest>(rest) else { return };
    let sealed = seal_manifest(keys(), &manifest);
    match open_manifest(keys(), &sealed, &expect) {
        Ok(opened) => assert_eq!(opened, manifest, "a sealed manifest opened to something else"),
        Err(ManifestError::BadMac | ManifestError::Malformed(_)) if sealed.len() <= expect.max_bytes => {
            panic!("a manifest sealed with the channel's keys failed to open")
        }
        Err(_) => {}
    }
});
