//! Airlock's wire protocol between two platforms: the master key that protects shared secrets
//! at rest, the keys derived from a shared secret, signed manifests, and chunked payload
//! encryption (see SPEC section 3).

mod keys;
mod manifest;
mod payload;
mod secret;

pub use keys::{generate_shared_secret, ChannelKeys, KdfError, KdfParams, PayloadKey};
pub use manifest::{
    check_bounds, open_manifest, open_shard, seal_manifest, ManifestBounds, ManifestError, ManifestExpectations,
};
pub use payload::{
    decrypt_bytes, decrypt_stream, encrypt_bytes, encrypt_stream, PayloadError, StreamSummary, DEFAULT_CHUNK_SIZE,
    MAX_CHUNK_SIZE,
};
pub use secret::{InvalidToken, MasterKey, MasterKeyError, MIN_MASTER_SECRET_LEN};
