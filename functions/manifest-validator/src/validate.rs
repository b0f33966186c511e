use airlock_domain::manifest::manifest_key;
use airlock_domain::pipeline::{Change, IngestRequest, PollRequest};
use airlock_domain::{failures, now_millis, Connection, ConnectionKind, Manifest, ReceivingPolicy, TagSet};
use airlock_protocol::{check_bounds, open_manifest, ChannelKeys, ManifestBounds, ManifestExpectations};
use airlock_repo::{ApplyOutcome, ManifestState, RepoError};
use airlock_runtime::{Context, HandlerError};
use airlock_store::object_store::{path::Path, ObjectStore};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// How a validation failed. A refusal fails the sync with its reason (nothing ingested);
/// the others are lower ports briefly away (worth another delivery), a connection that
/// doesn't exist, or the connection's validation running elsewhere.
#[derive(Debug, thiserror::Error)]
pub enum ValidateError {
    #[error("{0}")]
    Refused(String),
    #[error("connection '{0}' not found")]
    UnknownConnection(String),
    #[error(transparent)]
    Repo(#[from] RepoError),
    #[error("{0}")]
    Store(String),
    #[error("a validation of connection '{0}' is running elsewhere; this one waits for it")]
    Busy(String),
}

impl From<ValidateError> for HandlerError {
    fn from(error: ValidateError) -> Self {
        match error {
            ValidateError::Repo(_) | ValidateError::Store(_) => HandlerError::Retryable(error.to_string()),
            ValidateError::Busy(_) => HandlerError::Deferred(error.to_string()),
            ValidateError::Refused(_) | ValidateError::UnknownConnection(_) => {
                HandlerError::Permanent(error.to_string())
            }
        }
    }
}

pub enum Validation {
    /// Nothing to do (archived or not a receiving connection).
    Skipped(&'static str),
    /// The sync fails with this message; nothing is ingested.
    Refused(String),
    Accepted {
        message: String,
        ingests: Vec<IngestRequest>,
    },
}

struct Verified {
    manifest: Manifest,
    digest: String,
    /// Same bytes as the last applied manifest of this shard.
    unchanged: bool,
}

/// One validation of a receiving connection. At most one runs per connection at a time,
/// across processes: a second waits (`Busy`) for the first to finish.
pub async fn validate(ctx: &Context, request: &PollRequest) -> Result<Validation, HandlerError> {
    let Some(lease) = ctx.take_lease(&request.lease_key()).await.map_err(ValidateError::from)? else {
        return Err(ValidateError::Busy(request.connection_id.clone()).into());
    };
    let outcome = validate_holding_lease(ctx, request).await;
    lease.release().await;
    match outcome {
        Ok(validation) => Ok(validation),
        Err(ValidateError::Refused(message)) => Ok(Validation::Refused(message)),
        Err(e) => Err(e.into()),
    }
}

async fn validate_holding_lease(ctx: &Context, request: &PollRequest) -> Result<Validation, ValidateError> {
    let repo = &ctx.repo;
    let Some(mut connection) = repo.connection(&request.connection_id).await? else {
        return Err(ValidateError::UnknownConnection(request.connection_id.clone()));
    };
    if connection.kind != ConnectionKind::Receiving {
        return Ok(Validation::Skipped("not a receiving connection"));
    }
    if !connection.is_active() {
        return Ok(Validation::Skipped("connection is archived"));
    }
    let inbox = ctx.stores.get(&connection.store_label).map_err(|e| ValidateError::Refused(e.to_string()))?;
    let keys = ctx.channel_keys(&connection).await.map_err(|message| ValidateError::Refused(message.into()))?;

    // Shard 0 tells how many shards the sender uses.
    let first = read_shard(ctx, &connection, &inbox, &keys, 0).await?;
    let shard_count = first.manifest.shard_count.max(1);
    let mut shards = vec![first];
    for shard in 1..shard_count {
        shards.push(read_shard(ctx, &connection, &inbox, &keys, shard).await?);
    }
    // Recorded from authenticated manifests before the policy check, so that the transform
    // editor can offer (and warn about) exactly the tags that fail the sync.
    let incoming: TagSet =
        shards.iter().flat_map(|s| s.manifest.resources.iter().flat_map(|e| e.tags.iter().cloned())).collect();
    repo.set_incoming_tags(&connection.id, &incoming).await?;
    let platform = repo.platform().await?;
    let policy = ReceivingPolicy {
        local_levels: platform.levels,
        local_max: platform.max_level,
        rules: repo.transforms(&connection.id).await?,
        // Checked per entry by the ingester, which stores the transformed tags.
        active_tags: TagSet::new(),
    };
    policy
        .check(&connection.shared_id, shards.iter().map(|s| &s.manifest))
        .map_err(|e| ValidateError::Refused(e.to_string()))?;
    if connection.shard_count != shard_count {
        connection.shard_count = shard_count;
        repo.update_connection(&connection).await?;
    }

    let ingests = diff(ctx, &connection, request, &shards).await?;
    for shard in &shards {
        let state = ManifestState {
            connection_id: connection.id.clone(),
            shard: shard.manifest.shard,
            sequence: shard.manifest.sequence,
            digest: shard.digest.clone(),
        };
        // A validation that overlapped this one (its lease expired under it) applied a
        // newer manifest meanwhile: this one's changes are older, so it emits none.
        if let ApplyOutcome::Superseded { by } = repo.put_manifest_state(&state).await? {
            let message = format!(
                "manifest sequence {} of shard {} superseded by sequence {by}, applied meanwhile; nothing to apply",
                state.sequence, state.shard
            );
            return Ok(Validation::Accepted { message, ingests: Vec::new() });
        }
    }
    let sequence = shards[0].manifest.sequence;
    let message = if shards.iter().all(|s| s.unchanged) && ingests.is_empty() {
        format!("manifest unchanged (sequence {sequence}); nothing to apply")
    } else {
        format!("manifest sequence {sequence} verified: {} change(s) to apply", ingests.len())
    };
    Ok(Validation::Accepted { message, ingests })
}

/// Reads and verifies one shard's manifest.
async fn read_shard(
    ctx: &Context,
    connection: &Connection,
    inbox: &Arc<dyn ObjectStore>,
    keys: &ChannelKeys,
    shard: u32,
) -> Result<Verified, ValidateError> {
    let key = manifest_key(&connection.shared_id, shard);
    let path = Path::from(key.as_str());
    let max_bytes = ctx.settings.max_manifest_bytes;
    // The size is checked before the body is read, so an oversized object costs nothing.
    let meta = match inbox.head(&path).await {
        Ok(meta) => meta,
        Err(e) if airlock_store::is_not_found(&e) => {
            return Err(ValidateError::Refused(failures::no_manifest_received(&key, &connection.store_label)));
        }
        Err(e) => return Err(ValidateError::Store(format!("reading manifest '{key}' failed: {e}"))),
    };
    if meta.size as usize > max_bytes {
        let too_large = airlock_protocol::ManifestError::TooLarge { size: meta.size as usize, max: max_bytes };
        return Err(ValidateError::Refused(too_large.to_string()));
    }
    let bytes = match inbox.get(&path).await {
        // HEAD's size is the store's word: the read itself is bounded too.
        Ok(result) => airlock_store::read_at_most(result, max_bytes + 1).await,
        Err(e) => Err(e),
    };
    let bytes = match bytes {
        Ok(bytes) => bytes,
        Err(e) if airlock_store::is_not_found(&e) => {
            return Err(ValidateError::Refused(failures::no_manifest_received(&key, &connection.store_label)));
        }
        Err(e) => return Err(ValidateError::Store(format!("reading manifest '{key}' failed: {e}"))),
    };
    let digest = hex::encode(Sha256::digest(&bytes));
    let last = ctx.repo.manifest_state(&connection.id, shard).await?;
    let unchanged = last.as_ref().is_some_and(|s| s.digest == digest);
    // The very manifest applied last is not a replay; anything else must be newer.
    let last_applied_sequence = last.map(|s| if unchanged { s.sequence.saturating_sub(1) } else { s.sequence });
    let now = now_millis();
    let expect =
        ManifestExpectations { shared_id: &connection.shared_id, shard, last_applied_sequence, now, max_bytes };
    let settings = &ctx.settings;
    let bounds = ManifestBounds {
        max_shards: settings.max_shards,
        max_ttl: settings.max_manifest_ttl.as_millis() as i64,
        clock_skew: settings.clock_skew.as_millis() as i64,
        now,
    };
    // Authentic first, then within what this platform accepts from any partner.
    match open_manifest(keys, &bytes, &expect).and_then(|manifest| check_bounds(&manifest, &bounds).map(|()| manifest))
    {
        Ok(manifest) => Ok(Verified { manifest, digest, unchanged }),
        Err(e) => Err(ValidateError::Refused(format!("{e} ({key})"))),
    }
}

/// One ingest per resource that is new or changed, or that left the manifests.
async fn diff(
    ctx: &Context,
    connection: &Connection,
    request: &PollRequest,
    shards: &[Verified],
) -> Result<Vec<IngestRequest>, ValidateError> {
    let applied = ctx.repo.applied(&connection.id).await?;
    // Looked up once per entry: a connection may carry very many files.
    let applied_digests: BTreeMap<&str, &str> =
        applied.iter().map(|a| (a.remote_resource_id.as_str(), a.entry_digest.as_str())).collect();
    let mut ingests = Vec::new();
    let mut present = BTreeSet::new();
    let request_for = |shard: &Verified, change: Change| IngestRequest {
        sync_id: request.sync_id.clone(),
        connection_id: connection.id.clone(),
        shard: shard.manifest.shard,
        sequence: shard.manifest.sequence,
        change,
    };
    for shard in shards {
        for entry in &shard.manifest.resources {
            present.insert(entry.resource_id.clone());
            if applied_digests.get(entry.resource_id.as_str()) != Some(&entry.digest().as_str()) {
                ingests.push(request_for(shard, Change::Upsert { entry: entry.clone() }));
            }
        }
    }
    for gone in applied.iter().filter(|a| !present.contains(&a.remote_resource_id)) {
        let shard = shards.iter().find(|s| s.manifest.shard == gone.shard).unwrap_or(&shards[0]);
        ingests.push(request_for(shard, Change::Remove { resource_id: gone.remote_resource_id.clone() }));
    }
    Ok(ingests)
}
