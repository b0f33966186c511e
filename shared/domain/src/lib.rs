//! Airlock's domain rules: identifiers, classification, transforms, sending and receiving
//! policy, the manifest data model, the messages that chain the pipeline, and the texts of
//! the failures operators search for.

pub mod classification;
pub mod entities;
pub mod failures;
pub mod ids;
pub mod manifest;
pub mod pipeline;
pub mod policy;
pub mod transform;

pub use classification::{Clearance, InfosecLevel, TagSet};
pub use entities::{Connection, ConnectionKind, Health, PlatformSettings, Resource, Revision, User};
pub use ids::{derived_id, new_id, SharedId, SharedIdError};
pub use manifest::{shard_for, Manifest, ManifestEntry, ShardEntries, ShardRef, MANIFEST_FORMAT_VERSION};
pub use policy::{Ineligible, LevelCheckError, ReceivingPolicy, Refused, SendingPolicy};
pub use transform::{RuleKind, TransformError, TransformRule};

/// Milliseconds since the Unix epoch, the one time unit stored and carried in messages.
pub type Millis = i64;

pub fn now_millis() -> Millis {
    let now = time::OffsetDateTime::now_utc();
    (now.unix_timestamp_nanos() / 1_000_000) as Millis
}
