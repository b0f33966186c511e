use crate::classification::{InfosecLevel, TagSet};
use crate::Millis;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Version 2: a small signed manifest naming immutable, content-addressed shard objects.
pub const MANIFEST_FORMAT_VERSION: u32 = 2;

/// Entries a shard holds before the sender doubles its shard count (see `shard_count_for`).
pub const ENTRIES_PER_SHARD: usize = 1_000;

/// The signed root of what a sending connection publishes: it names one immutable shard
/// object per shard by the SHA-256 of its exact bytes, so the receiver fetches only shards
/// whose digest changed and can never combine shards of different runs. Its exact bytes
/// are what the MAC covers; see `airlock-protocol` for the signed form.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub version: u32,
    pub shared_id: String,
    pub shard_count: u32,
    /// Strictly increasing per connection; the receiver refuses anything not newer.
    pub sequence: u64,
    pub generated_at: Millis,
    pub expires_at: Millis,
    /// The sending platform's maximum infosec level.
    pub max_level: InfosecLevel,
    /// One per shard, in shard order.
    pub shards: Vec<ShardRef>,
}

/// What the root says of one shard: where its entries are, their digest, and a summary
/// (count, tags) that lets the receiver check its policy without fetching the shard.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardRef {
    pub shard: u32,
    pub key: String,
    /// SHA-256 of the shard object's exact bytes, lowercase hex.
    pub sha256: String,
    pub size: u64,
    pub entries: u32,
    /// Every control tag any entry of the shard carries.
    pub tags: TagSet,
}

/// The entries of one shard, stored unsigned at a key named by their digest: the signed
/// root vouches for them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardEntries {
    pub shared_id: String,
    pub shard: u32,
    pub shard_count: u32,
    /// Ordered by resource id.
    pub resources: Vec<ManifestEntry>,
}

impl ShardEntries {
    /// The exact bytes stored, and the reference the root gives them.
    pub fn to_object(&self) -> (Vec<u8>, ShardRef) {
        let bytes = serde_json::to_vec(self).expect("shard entries serialize");
        let sha256 = hex::encode(Sha256::digest(&bytes));
        let shard_ref = ShardRef {
            shard: self.shard,
            key: shard_key(&self.shared_id, self.shard, &sha256),
            sha256,
            size: bytes.len() as u64,
            entries: self.resources.len() as u32,
            tags: self.resources.iter().flat_map(|e| e.tags.iter().cloned()).collect(),
        };
        (bytes, shard_ref)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestEntry {
    pub resource_id: String,
    pub revision_id: String,
    pub name: String,
    pub size: u64,
    /// SHA-256 of the plaintext, lowercase hex.
    pub sha256: String,
    pub object_key: String,
    /// Control tags after the sending transforms.
    pub tags: TagSet,
    pub level: InfosecLevel,
}

impl ManifestEntry {
    /// A digest of everything the receiver applies, so that a changed name, tag or level
    /// is re-applied even when the revision is the same.
    pub fn digest(&self) -> String {
        let bytes = serde_json::to_vec(self).expect("manifest entry serializes");
        hex::encode(Sha256::digest(bytes))
    }
}

/// Stable shard of a resource: the first four bytes of SHA-256 of its id, modulo the count.
pub fn shard_for(resource_id: &str, shard_count: u32) -> u32 {
    let digest = Sha256::digest(resource_id.as_bytes());
    let n = u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]]);
    n % shard_count.max(1)
}

/// The shard count for `entries` entries: at least `configured`, a power of two times it,
/// doubled once shards average more than `ENTRIES_PER_SHARD` and halved only below a
/// quarter of that, so a connection near a boundary does not reshard on every run (a new
/// count rewrites every shard). At most `max`.
pub fn shard_count_for(entries: usize, previous: Option<u32>, configured: u32, max: u32) -> u32 {
    let configured = configured.clamp(1, max.max(1));
    let mut count = previous.unwrap_or(configured).clamp(configured, max.max(1));
    while (count as usize) * ENTRIES_PER_SHARD < entries && count.saturating_mul(2) <= max {
        count *= 2;
    }
    while count / 2 >= configured && entries < (count as usize) * ENTRIES_PER_SHARD / 4 {
        count /= 2;
    }
    count
}

/// The signed root, at the place the debugging guide tells operators to look for it.
pub fn manifest_key(shared_id: &str) -> String {
    format!("{shared_id}/shard0/manifest")
}

/// Where one shard's entries with this digest live. Immutable: new entries get a new key.
pub fn shard_key(shared_id: &str, shard: u32, sha256: &str) -> String {
    format!("{shared_id}/shard{shard}/entries-{sha256}")
}

/// Where a revision's payload, encrypted under the channel keys named by `key_id`, lives.
/// The key's id is part of the name, so a new secret republishes under new names while a
/// receiver still working from an older manifest finds the old objects in place. No shard
/// in it: a connection that grows to more shards keeps its objects where they are. One
/// directory holds them all: on a directory store, a directory per file costs an inode
/// allocation per file.
pub fn object_key(shared_id: &str, resource_id: &str, revision_id: &str, key_id: &str) -> String {
    format!("{shared_id}/objects/{resource_id}.{revision_id}.{key_id}")
}

/// What every object of a resource's entry starts with; the rest of its name holds no `/`.
pub fn object_prefix(shared_id: &str, resource_id: &str) -> String {
    format!("{shared_id}/objects/{resource_id}.")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_are_stable_and_spread() {
        assert_eq!(shard_for("abc", 8), shard_for("abc", 8));
        assert_eq!(shard_for("abc", 1), 0);
        let used: std::collections::BTreeSet<u32> = (0..200).map(|i| shard_for(&format!("r{i}"), 4)).collect();
        assert_eq!(used.len(), 4);
    }

    #[test]
    fn keys_follow_the_documented_layout() {
        assert_eq!(manifest_key("acme-1x"), "acme-1x/shard0/manifest");
        assert_eq!(shard_key("s", 3, "ab12"), "s/shard3/entries-ab12");
        assert_eq!(object_key("s", "r", "v", "0123456789abcdef"), "s/objects/r.v.0123456789abcdef");
    }

    #[test]
    fn shard_count_grows_by_doubling_and_shrinks_late() {
        assert_eq!(shard_count_for(0, None, 1, 256), 1);
        assert_eq!(shard_count_for(1_000, None, 1, 256), 1);
        assert_eq!(shard_count_for(1_001, None, 1, 256), 2);
        assert_eq!(shard_count_for(100_000, None, 1, 256), 128);
        assert_eq!(shard_count_for(100_000, None, 1, 64), 64, "capped by the maximum");
        assert_eq!(shard_count_for(10, None, 4, 256), 4, "never below the configured count");
        // Hysteresis: 2 shards stay 2 until entries drop below a quarter of their capacity.
        assert_eq!(shard_count_for(900, Some(2), 1, 256), 2);
        assert_eq!(shard_count_for(499, Some(2), 1, 256), 1);
    }

    #[test]
    fn a_shard_object_is_named_by_its_digest() {
        let shard = ShardEntries { shared_id: "s".into(), shard: 1, shard_count: 2, resources: vec![] };
        let (bytes, shard_ref) = shard.to_object();
        assert_eq!(shard_ref.sha256, hex::encode(Sha256::digest(&bytes)));
        assert_eq!(shard_ref.key, shard_key("s", 1, &shard_ref.sha256));
        assert_eq!((shard_ref.size, shard_ref.entries), (bytes.len() as u64, 0));
    }
}
