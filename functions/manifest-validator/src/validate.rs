use airlock_domain::manifest::manifest_key;
use airlock_domain::pipeline::{Change, IngestRequest, PollRequest};
use airlock_domain::{
    failures, now_millis, Connection, ConnectionKind, Manifest, ReceivingPolicy, ShardEntries, ShardRef, TagSet,
};
use airlock_protocol::{check_bounds, open_manifest, open_shard, ChannelKeys, ManifestBounds, ManifestExpectations};
use airlock_repo::{AppliedEntry, ApplyOutcome, ManifestState, RepoError, ShardState, ROOT_STATE_SHARD};
use airlock_runtime::{Context, HandlerError};
use airlock_store::object_store::{path::Path, ObjectStore};
use futures::stream::{self, StreamExt, TryStreamExt};
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
        /// Applied only if every ingest of the sync succeeds (see `AppliedShards`).
        shards: AppliedShards,
    },
}

/// The shards a validation fetched: recorded as pending before its ingests go out, and as
/// applied by the status recorder once the sync's event finishes with every file arrived.
#[derive(Debug, Default)]
pub struct AppliedShards {
    connection_id: String,
    sequence: u64,
    states: Vec<ShardState>,
}

impl AppliedShards {
    pub async fn record_pending(&self, ctx: &Context, sync_id: &str) -> Result<(), RepoError> {
        if self.states.is_empty() {
            return Ok(());
        }
        ctx.repo.put_pending_shards(sync_id, &self.connection_id, self.sequence, &self.states).await
    }
}

/// A verified signed root.
struct Verified {
    manifest: Manifest,
    digest: String,
    /// Same bytes as the last applied root.
    unchanged: bool,
}

/// Shards fetched at once by one validation.
const SHARD_FETCHES: usize = 8;

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

    let root = read_root(ctx, &connection, &inbox, &keys).await?;
    let manifest = &root.manifest;
    // Recorded from the authenticated root before the policy check, so that the transform
    // editor can offer (and warn about) exactly the tags that fail the sync.
    let incoming: TagSet = manifest.shards.iter().flat_map(|s| s.tags.iter().cloned()).collect();
    repo.set_incoming_tags(&connection.id, &incoming).await?;
    let platform = repo.platform().await?;
    let policy = ReceivingPolicy {
        local_levels: platform.levels,
        local_max: platform.max_level,
        rules: repo.transforms(&connection.id).await?,
        // Checked per entry by the ingester, which stores the transformed tags.
        active_tags: TagSet::new(),
    };
    // The root alone first: the partner's max level and every declared tag, on every sync.
    policy.check_root(manifest).map_err(|e| ValidateError::Refused(e.to_string()))?;

    // Only the shards whose digest is not the one applied are fetched; all of them when
    // the sender changed its shard count.
    let resharded = connection.shard_count != manifest.shard_count;
    let states: BTreeMap<u32, ShardState> =
        repo.shard_states(&connection.id).await?.into_iter().map(|s| (s.shard, s)).collect();
    let to_fetch: Vec<&ShardRef> = manifest
        .shards
        .iter()
        .filter(|r| resharded || states.get(&r.shard).is_none_or(|s| s.digest != r.sha256))
        .collect();
    // Made before they are streamed (boxed, of one type), so the handler's future stays Send.
    let reads: Vec<_> = to_fetch.iter().map(|r| Box::pin(read_shard(ctx, &inbox, manifest, r))).collect();
    let fetched: Vec<ShardEntries> = stream::iter(reads).buffered(SHARD_FETCHES).try_collect().await?;
    policy.check_entries(manifest, &fetched).map_err(|e| ValidateError::Refused(e.to_string()))?;
    if resharded {
        connection.shard_count = manifest.shard_count;
        repo.update_connection(&connection).await?;
    }

    let ingests = diff(ctx, &connection, request, manifest, &fetched, resharded).await?;
    let state = ManifestState {
        connection_id: connection.id.clone(),
        shard: ROOT_STATE_SHARD,
        sequence: manifest.sequence,
        digest: root.digest.clone(),
    };
    // A validation that overlapped this one (its lease expired under it) applied a newer
    // manifest meanwhile: this one's changes are older, so it emits none.
    if let ApplyOutcome::Superseded { by } = repo.put_manifest_state(&state).await? {
        let message = format!(
            "manifest sequence {} superseded by sequence {by}, applied meanwhile; nothing to apply",
            state.sequence
        );
        return Ok(Validation::Accepted { message, ingests: Vec::new(), shards: AppliedShards::default() });
    }
    let sequence = manifest.sequence;
    let message = if fetched.is_empty() && ingests.is_empty() {
        let how = if root.unchanged { "unchanged" } else { "refreshed, no shard changed" };
        format!("manifest {how} (sequence {sequence}); nothing to apply")
    } else {
        format!(
            "manifest sequence {sequence} verified, {} of {} shard(s) fetched: {} change(s) to apply",
            fetched.len(),
            manifest.shard_count,
            ingests.len()
        )
    };
    let applied = fetched
        .iter()
        .map(|f| ShardState { shard: f.shard, digest: manifest.shards[f.shard as usize].sha256.clone() })
        .collect();
    let shards = AppliedShards { connection_id: connection.id.clone(), sequence, states: applied };
    Ok(Validation::Accepted { message, ingests, shards })
}

/// Reads and verifies the signed root.
async fn read_root(
    ctx: &Context,
    connection: &Connection,
    inbox: &Arc<dyn ObjectStore>,
    keys: &ChannelKeys,
) -> Result<Verified, ValidateError> {
    let key = manifest_key(&connection.shared_id);
    let max_bytes = ctx.settings.max_manifest_bytes;
    let bytes = read_bounded(inbox, &key, max_bytes, || {
        ValidateError::Refused(failures::no_manifest_received(&key, &connection.store_label))
    })
    .await?;
    let digest = hex::encode(Sha256::digest(&bytes));
    let last = ctx.repo.manifest_state(&connection.id, ROOT_STATE_SHARD).await?;
    let unchanged = last.as_ref().is_some_and(|s| s.digest == digest);
    // The very manifest applied last is not a replay; anything else must be newer.
    let last_applied_sequence = last.map(|s| if unchanged { s.sequence.saturating_sub(1) } else { s.sequence });
    let now = now_millis();
    let expect = ManifestExpectations { shared_id: &connection.shared_id, last_applied_sequence, now, max_bytes };
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

/// Reads one shard's entries object at the key the root names, and checks it against the
/// root's digest before parsing it.
async fn read_shard(
    ctx: &Context,
    inbox: &Arc<dyn ObjectStore>,
    manifest: &Manifest,
    shard_ref: &ShardRef,
) -> Result<ShardEntries, ValidateError> {
    let max_bytes = ctx.settings.max_manifest_bytes;
    let missing = || {
        ValidateError::Refused(format!(
            "manifest rejected: shard {} entries '{}' named by the signed manifest do not exist",
            shard_ref.shard, shard_ref.key
        ))
    };
    let bytes = read_bounded(inbox, &shard_ref.key, max_bytes, missing).await?;
    open_shard(manifest, shard_ref, &bytes, max_bytes).map_err(|e| ValidateError::Refused(e.to_string()))
}

/// An object's bytes, its size (from the answer's headers) checked before the body is
/// read, so an oversized object costs nothing; the read itself is bounded too (the size is
/// the store's word).
async fn read_bounded(
    inbox: &Arc<dyn ObjectStore>,
    key: &str,
    max_bytes: usize,
    missing: impl Fn() -> ValidateError,
) -> Result<Vec<u8>, ValidateError> {
    let path = Path::from(key);
    let failed = |e: airlock_store::object_store::Error| {
        if airlock_store::is_not_found(&e) {
            missing()
        } else {
            ValidateError::Store(format!("reading '{key}' failed: {e}"))
        }
    };
    let result = inbox.get(&path).await.map_err(failed)?;
    if result.meta.size as usize > max_bytes {
        let too_large = airlock_protocol::ManifestError::TooLarge { size: result.meta.size as usize, max: max_bytes };
        return Err(ValidateError::Refused(format!("{too_large} ({key})")));
    }
    let bytes = airlock_store::read_at_most(result, max_bytes + 1).await.map_err(failed)?;
    Ok(bytes.to_vec())
}

/// One ingest per resource that is new or changed in a fetched shard, or that left it.
/// After a change of shard count every shard is fetched, and an entry whose recorded shard
/// is not its new one counts as changed, so that the recorded shards stay right.
async fn diff(
    ctx: &Context,
    connection: &Connection,
    request: &PollRequest,
    manifest: &Manifest,
    fetched: &[ShardEntries],
    resharded: bool,
) -> Result<Vec<IngestRequest>, ValidateError> {
    let applied = if resharded {
        ctx.repo.applied(&connection.id).await?
    } else {
        let mut applied = Vec::new();
        for shard in fetched {
            applied.extend(ctx.repo.applied_in_shard(&connection.id, shard.shard).await?);
        }
        applied
    };
    // Looked up once per entry: a shard may carry very many files.
    let applied_by_id: BTreeMap<&str, &AppliedEntry> =
        applied.iter().map(|a| (a.remote_resource_id.as_str(), a)).collect();
    let mut ingests = Vec::new();
    let mut present = BTreeSet::new();
    let request_for = |shard: u32, change: Change| IngestRequest {
        sync_id: request.sync_id.clone(),
        connection_id: connection.id.clone(),
        shard,
        sequence: manifest.sequence,
        change,
    };
    for shard in fetched {
        for entry in &shard.resources {
            present.insert(entry.resource_id.as_str());
            let current = applied_by_id
                .get(entry.resource_id.as_str())
                .is_some_and(|a| a.entry_digest == entry.digest() && a.shard == shard.shard);
            if !current {
                ingests.push(request_for(shard.shard, Change::Upsert { entry: entry.clone() }));
            }
        }
    }
    for gone in applied.iter().filter(|a| !present.contains(a.remote_resource_id.as_str())) {
        let shard = gone.shard.min(manifest.shard_count - 1);
        ingests.push(request_for(shard, Change::Remove { resource_id: gone.remote_resource_id.clone() }));
    }
    Ok(ingests)
}
