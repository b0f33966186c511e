use airlock_domain::pipeline::{Change, IngestRequest, ResourceOutcome, ResourceRow};
use airlock_domain::{
    derived_id, failures, now_millis, Connection, ConnectionKind, ManifestEntry, ReceivingPolicy, Resource, Revision,
};
use airlock_protocol::ChannelKeys;
use airlock_repo::{AppliedEntry, ApplyOutcome, LocalChange, RepoError};
use airlock_runtime::{Context, HandlerError};
use tokio::io::AsyncWriteExt;

/// How one ingest failed. A refusal fails the resource's row for good (the Display is the
/// row's message); the rest are lower ports briefly away, worth another delivery.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("{0}")]
    Refused(String),
    #[error("connection '{0}' not found")]
    UnknownConnection(String),
    #[error(transparent)]
    Repo(#[from] RepoError),
    #[error("{0}")]
    Store(String),
    #[error("{0}")]
    Misconfigured(String),
}

impl From<IngestError> for HandlerError {
    fn from(error: IngestError) -> Self {
        match error {
            IngestError::Repo(_) | IngestError::Store(_) => HandlerError::Retryable(error.to_string()),
            IngestError::Refused(_) | IngestError::UnknownConnection(_) | IngestError::Misconfigured(_) => {
                HandlerError::Permanent(error.to_string())
            }
        }
    }
}

/// What an upsert or removal did, before it becomes the resource's row: applied (with the
/// bytes it stored), or superseded by a newer sequence.
enum Done {
    Applied(String, u64),
    Superseded(u64),
}

/// What every change of one receiving connection needs, read once per batch of changes.
pub struct Receiving {
    connection: Connection,
    policy: ReceivingPolicy,
    keys: Result<ChannelKeys, &'static str>,
}

impl Receiving {
    /// `Ok(None)` for a connection that is archived or not a receiving one.
    pub async fn load(ctx: &Context, connection_id: &str) -> Result<Option<Self>, IngestError> {
        let repo = &ctx.repo;
        let Some(connection) = repo.connection(connection_id).await? else {
            return Err(IngestError::UnknownConnection(connection_id.into()));
        };
        if connection.kind != ConnectionKind::Receiving || !connection.is_active() {
            return Ok(None);
        }
        let platform = repo.platform().await?;
        let policy = ReceivingPolicy {
            local_levels: platform.levels,
            local_max: platform.max_level,
            rules: repo.transforms(&connection.id).await?,
            active_tags: repo.active_control_tags().await?,
        };
        let keys = ctx.channel_keys(&connection).await;
        Ok(Some(Self { connection, policy, keys }))
    }
}

/// Applies one change and says how it went: a refusal is a failed row, a change older
/// than the one applied is reported as superseded. `Err` is only for failures worth retrying.
pub async fn ingest(ctx: &Context, request: &IngestRequest) -> Result<ResourceRow, HandlerError> {
    let receiving = Receiving::load(ctx, &request.connection_id).await?;
    Ok(ingest_with(ctx, receiving.as_ref(), request).await?.0)
}

/// `ingest` with the connection's context read already (`None`: archived or not receiving);
/// also says how many bytes it stored.
pub async fn ingest_with(
    ctx: &Context,
    receiving: Option<&Receiving>,
    request: &IngestRequest,
) -> Result<(ResourceRow, u64), HandlerError> {
    let row = |name: &str, outcome, message: String| ResourceRow {
        resource_id: request.change.resource_id().into(),
        name: name.into(),
        outcome,
        message,
    };
    let Some(receiving) = receiving else {
        let row = row("", ResourceOutcome::Failed, "connection is archived or not a receiving connection".into());
        return Ok((row, 0));
    };
    let connection = &receiving.connection;
    let (name, done, applied_outcome) = match &request.change {
        Change::Upsert { entry } => {
            (entry.name.clone(), upsert(ctx, receiving, request, entry).await, ResourceOutcome::Updated)
        }
        Change::Remove { resource_id } => {
            let (name, done) = withdraw(ctx, connection, request, resource_id).await?;
            (name, Ok(done), ResourceOutcome::Removed)
        }
    };
    match done {
        Ok(Done::Applied(message, stored)) => Ok((row(&name, applied_outcome, message), stored)),
        // Not a failure: the newer change is (or will be) reported by its own ingest.
        Ok(Done::Superseded(by)) => {
            Ok((row(&name, ResourceOutcome::Unchanged, format!("superseded by sequence {by}")), 0))
        }
        // The failed row keeps the sync from recording the shard as applied, so the next
        // sync offers the entry again.
        Err(IngestError::Refused(message)) => Ok((row(&name, ResourceOutcome::Failed, message), 0)),
        Err(e) => Err(e.into()),
    }
}

async fn upsert(
    ctx: &Context,
    receiving: &Receiving,
    request: &IngestRequest,
    entry: &ManifestEntry,
) -> Result<Done, IngestError> {
    let repo = &ctx.repo;
    let connection = &receiving.connection;
    let local_id = derived_id(&[&connection.id, &entry.resource_id]);
    let local_revision_id = derived_id(&[&connection.id, &entry.revision_id]);
    let stored = format!("stored revision {} ({} bytes) as {local_id}", entry.revision_id, entry.size);
    let digest = entry.digest();
    if let Some(applied) = repo.applied_entry(&connection.id, &entry.resource_id).await? {
        if applied.sequence > request.sequence {
            // Newer content is there already: not even worth the download.
            return Ok(Done::Superseded(applied.sequence));
        }
        if applied.sequence == request.sequence && applied.entry_digest == digest && !applied.withdrawn {
            // A redelivery of a change already applied: report it the same way, change nothing.
            return Ok(Done::Applied(stored, 0));
        }
    }

    let (level, tags) = receiving.policy.admit(entry).map_err(|e| IngestError::Refused(e.to_string()))?;

    let mut stored_bytes = 0;
    if repo.revision(&local_revision_id).await?.is_none() {
        let keys = receiving.keys.as_ref().map_err(|message| IngestError::Refused((*message).into()))?;
        let blob_key = format!("blobs/{local_revision_id}");
        download(ctx, connection, keys, entry, &blob_key).await?;
        let revision = Revision {
            id: local_revision_id.clone(),
            resource_id: local_id.clone(),
            size: entry.size,
            sha256: entry.sha256.clone(),
            blob_key,
            created_at: now_millis(),
        };
        repo.add_revision(&revision).await?;
        stored_bytes = entry.size;
    }

    let resource = Resource {
        id: local_id.clone(),
        name: entry.name.clone(),
        // Received files belong to their connection; its owners see them through it.
        owner_id: format!("connection:{}", connection.id),
        level,
        tags,
        origin_connection_id: Some(connection.id.clone()),
        created_at: now_millis(),
        withdrawn_at: None,
    };
    let applied = AppliedEntry {
        connection_id: connection.id.clone(),
        remote_resource_id: entry.resource_id.clone(),
        shard: request.shard,
        entry_digest: digest,
        local_resource_id: local_id,
        sequence: request.sequence,
        withdrawn: false,
    };
    // The download may have taken long: only now, in one conditional write, is it decided
    // whether this change is still the newest.
    let change = LocalChange::Upsert { resource, revision_id: local_revision_id };
    Ok(match repo.apply_change(&applied, &change).await? {
        ApplyOutcome::Applied | ApplyOutcome::Current => Done::Applied(stored, stored_bytes),
        ApplyOutcome::Superseded { by } => Done::Superseded(by),
    })
}

/// Streams, decrypts and verifies the object into the registry store. The registry copy
/// is committed only when every chunk authenticated and size and checksum match.
async fn download(
    ctx: &Context,
    connection: &Connection,
    keys: &ChannelKeys,
    entry: &ManifestEntry,
    blob_key: &str,
) -> Result<(), IngestError> {
    let inbox = ctx.stores.get(&connection.store_label).map_err(|e| IngestError::Refused(e.to_string()))?;
    let source = match airlock_store::reader(&inbox, &entry.object_key).await {
        Ok(source) => source,
        Err(e) if airlock_store::is_not_found(&e) => {
            return Err(IngestError::Refused(failures::properties_read_failed(format!(
                "NoSuchKey: the object '{}' named in the manifest does not exist in store '{}'",
                entry.object_key, connection.store_label
            ))));
        }
        Err(e) => return Err(IngestError::Store(format!("reading '{}' failed: {e}", entry.object_key))),
    };
    let registry = ctx.registry_store().map_err(|e| IngestError::Misconfigured(e.to_string()))?;
    let mut sink = airlock_store::writer(registry, blob_key);
    let key = keys.payload_key(&entry.revision_id);
    let refuse = |why: String| {
        IngestError::Refused(format!("{why} (resource {}, object '{}')", entry.resource_id, entry.object_key))
    };
    let summary = match airlock_protocol::decrypt_stream(&key, source, &mut sink).await {
        Ok(summary) => summary,
        Err(airlock_protocol::PayloadError::Io(e)) => {
            let _ = sink.abort().await;
            return Err(IngestError::Store(format!("payload i/o failed: {e}")));
        }
        Err(e) => {
            let _ = sink.abort().await;
            return Err(refuse(e.to_string()));
        }
    };
    if summary.plain_size != entry.size || summary.sha256 != entry.sha256 {
        let _ = sink.abort().await;
        return Err(refuse(format!(
            "payload rejected: content does not match the manifest (size {} vs {}, sha256 {} vs {})",
            summary.plain_size, entry.size, summary.sha256, entry.sha256
        )));
    }
    sink.shutdown().await.map_err(|e| IngestError::Store(format!("storing the received file failed: {e}")))
}

/// Hides the local copy of a resource the partner withdrew, unless a newer change for it
/// was applied; returns its name.
async fn withdraw(
    ctx: &Context,
    connection: &Connection,
    request: &IngestRequest,
    remote_id: &str,
) -> Result<(String, Done), IngestError> {
    let local_id = derived_id(&[&connection.id, remote_id]);
    let name = ctx.repo.resource(&local_id).await?.map(|r| r.name).unwrap_or_default();
    let tombstone = AppliedEntry {
        connection_id: connection.id.clone(),
        remote_resource_id: remote_id.into(),
        shard: request.shard,
        entry_digest: String::new(),
        local_resource_id: local_id,
        sequence: request.sequence,
        withdrawn: true,
    };
    let done = match ctx.repo.apply_change(&tombstone, &LocalChange::Withdraw { at: now_millis() }).await? {
        ApplyOutcome::Applied | ApplyOutcome::Current => Done::Applied("withdrawn by the partner".into(), 0),
        ApplyOutcome::Superseded { by } => Done::Superseded(by),
    };
    Ok((name, done))
}
