use crate::classification::{InfosecLevel, TagSet};
use crate::Millis;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub const MANIFEST_FORMAT_VERSION: u32 = 1;

/// The signed list of what a sending connection publishes in one shard. Its exact bytes
/// are what the MAC covers; see `airlock-protocol` for the signed form.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub version: u32,
    pub shared_id: String,
    pub shard: u32,
    pub shard_count: u32,
    /// Strictly increasing per connection; the receiver refuses anything not newer.
    pub sequence: u64,
    pub generated_at: Millis,
    pub expires_at: Millis,
    /// The sending platform's maximum infosec level.
    pub max_level: InfosecLevel,
    pub resources: Vec<ManifestEntry>,
    /// Resource ids withdrawn since the previous manifest of this shard.
    pub removed: Vec<String>,
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

pub fn manifest_key(shared_id: &str, shard: u32) -> String {
    format!("{shared_id}/shard{shard}/manifest")
}

/// Where a revision's payload, encrypted under the channel keys named by `key_id`, lives.
/// The key's id is part of the name, so a new secret republishes under new names while a
/// receiver still working from an older manifest finds the old objects in place.
pub fn object_key(shared_id: &str, shard: u32, resource_id: &str, revision_id: &str, key_id: &str) -> String {
    format!("{shared_id}/shard{shard}/objects/{resource_id}/{revision_id}.{key_id}")
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
        assert_eq!(manifest_key("acme-1x", 0), "acme-1x/shard0/manifest");
        assert_eq!(object_key("s", 2, "r", "v", "0123456789abcdef"), "s/shard2/objects/r/v.0123456789abcdef");
    }
}
