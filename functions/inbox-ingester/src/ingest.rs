use airlock_domain::pipeline::{Change, IngestRequest, ResourceOutcome, ResourceRow};
use airlock_domain::policy::map_incoming_level;
use airlock_domain::{
    derived_id, messages, now_millis, transform, Connection, ConnectionKind, ManifestEntry, Resource, Revision, TagSet,
};
use airlock_protocol::ChannelKeys;
use airlock_repo::AppliedEntry;
use airlock_runtime::{Context, HandlerError};
use tokio::io::AsyncWriteExt;

/// Applies one change and says how it went. `Err` is only for failures worth retrying.
pub async fn ingest(ctx: &Context, request: &IngestRequest) -> Result<ResourceRow, HandlerError> {
    let Some(connection) = ctx.repo.connection(&request.connection_id).await.map_err(HandlerError::retryable)? else {
        return Err(HandlerError::Permanent(format!("connection '{}' not found", request.connection_id)));
    };
    let row = |name: &str, outcome, message: String| ResourceRow {
        resource_id: request.change.resource_id().into(),
        name: name.into(),
        outcome,
        message,
    };
    if connection.kind != ConnectionKind::Receiving || !connection.is_active() {
        return Ok(row("", ResourceOutcome::Failed, "connection is archived or not a receiving connection".into()));
    }
    match &request.change {
        Change::Upsert { entry } => match upsert(ctx, &connection, request.shard, entry).await? {
            Ok(message) => Ok(row(&entry.name, ResourceOutcome::Updated, message)),
            Err(message) => Ok(row(&entry.name, ResourceOutcome::Failed, message)),
        },
        Change::Remove { resource_id } => {
            let name = withdraw(ctx, &connection, resource_id).await?;
            Ok(row(&name, ResourceOutcome::Removed, "withdrawn by the partner".into()))
        }
    }
}

/// `Ok(Ok(message))` stored, `Ok(Err(message))` refused for good, `Err` retry.
async fn upsert(
    ctx: &Context,
    connection: &Connection,
    shard: u32,
    entry: &ManifestEntry,
) -> Result<Result<String, String>, HandlerError> {
    let repo = &ctx.repo;
    let local_id = derived_id(&[&connection.id, &entry.resource_id]);
    let local_revision_id = derived_id(&[&connection.id, &entry.revision_id]);
    let stored = format!("stored revision {} ({} bytes) as {local_id}", entry.revision_id, entry.size);
    let digest = entry.digest();
    if let Some(applied) =
        repo.applied_entry(&connection.id, &entry.resource_id).await.map_err(HandlerError::retryable)?
    {
        if applied.entry_digest == digest {
            // A redelivery of a change already applied: report it the same way, change nothing.
            return Ok(Ok(stored));
        }
    }

    let platform = repo.platform().await.map_err(HandlerError::retryable)?;
    let level = match map_incoming_level(&entry.level, &platform.levels) {
        Ok(level) => level,
        Err(e) => return Ok(Err(e.to_string())),
    };
    let rules = repo.transforms(&connection.id).await.map_err(HandlerError::retryable)?;
    let tags = transform::apply(&rules, &entry.tags);
    let active = repo.active_control_tags().await.map_err(HandlerError::retryable)?;
    let foreign: TagSet = tags.difference(&active).cloned().collect();
    if !foreign.is_empty() {
        return Ok(Err(messages::uncovered_tags(&foreign)));
    }

    if repo.revision(&local_revision_id).await.map_err(HandlerError::retryable)?.is_none() {
        let keys = match ctx.channel_keys(connection).await {
            Ok(keys) => keys,
            Err(message) => return Ok(Err(message.into())),
        };
        let blob_key = format!("blobs/{local_id}/{local_revision_id}");
        if let Err(outcome) = download(ctx, connection, &keys, entry, &blob_key).await {
            return outcome.map(Err);
        }
        let revision = Revision {
            id: local_revision_id,
            resource_id: local_id.clone(),
            size: entry.size,
            sha256: entry.sha256.clone(),
            blob_key,
            created_at: now_millis(),
        };
        repo.add_revision(&revision).await.map_err(HandlerError::retryable)?;
    }

    let existing = repo.resource(&local_id).await.map_err(HandlerError::retryable)?;
    let resource = Resource {
        id: local_id.clone(),
        name: entry.name.clone(),
        // Received files belong to their connection; its owners see them through it.
        owner_id: format!("connection:{}", connection.id),
        level,
        tags,
        origin_connection_id: Some(connection.id.clone()),
        created_at: existing.map(|r| r.created_at).unwrap_or_else(now_millis),
        withdrawn_at: None,
    };
    repo.put_resource(&resource).await.map_err(HandlerError::retryable)?;
    let applied = AppliedEntry {
        connection_id: connection.id.clone(),
        remote_resource_id: entry.resource_id.clone(),
        shard,
        entry_digest: digest,
        local_resource_id: local_id,
    };
    repo.put_applied(&applied).await.map_err(HandlerError::retryable)?;
    Ok(Ok(stored))
}

/// Streams, decrypts and verifies the object into the registry store. The registry copy
/// is committed only when every chunk authenticated and size and checksum match.
/// `Err(Ok(message))` is a refusal, `Err(Err(_))` a failure worth retrying.
async fn download(
    ctx: &Context,
    connection: &Connection,
    keys: &ChannelKeys,
    entry: &ManifestEntry,
    blob_key: &str,
) -> Result<(), Result<String, HandlerError>> {
    let inbox = ctx.stores.get(&connection.store_label).map_err(|e| Ok(e.to_string()))?;
    let source = match airlock_store::reader(&inbox, &entry.object_key).await {
        Ok(source) => source,
        Err(e) if airlock_store::is_not_found(&e) => {
            return Err(Ok(messages::properties_read_failed(format!(
                "NoSuchKey: the object '{}' named in the manifest does not exist in store '{}'",
                entry.object_key, connection.store_label
            ))));
        }
        Err(e) => return Err(Err(HandlerError::retryable(format!("reading '{}' failed: {e}", entry.object_key)))),
    };
    let registry = ctx.registry_store().map_err(|e| Err(HandlerError::permanent(e)))?;
    let mut sink = airlock_store::writer(registry, blob_key);
    let key = keys.payload_key(&entry.revision_id);
    let refuse = |why: String| Ok(format!("{why} (resource {}, object '{}')", entry.resource_id, entry.object_key));
    let summary = match airlock_protocol::decrypt_stream(&key, source, &mut sink).await {
        Ok(summary) => summary,
        Err(airlock_protocol::PayloadError::Io(e)) => {
            let _ = sink.abort().await;
            return Err(Err(HandlerError::retryable(format!("payload i/o failed: {e}"))));
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
    sink.shutdown().await.map_err(|e| Err(HandlerError::retryable(format!("storing the received file failed: {e}"))))
}

/// Hides the local copy of a resource the partner withdrew; returns its name.
async fn withdraw(ctx: &Context, connection: &Connection, remote_id: &str) -> Result<String, HandlerError> {
    let repo = &ctx.repo;
    let local_id = derived_id(&[&connection.id, remote_id]);
    let Some(mut resource) = repo.resource(&local_id).await.map_err(HandlerError::retryable)? else {
        repo.delete_applied(&connection.id, remote_id).await.map_err(HandlerError::retryable)?;
        return Ok(String::new());
    };
    if resource.withdrawn_at.is_none() {
        resource.withdrawn_at = Some(now_millis());
        repo.put_resource(&resource).await.map_err(HandlerError::retryable)?;
    }
    repo.delete_applied(&connection.id, remote_id).await.map_err(HandlerError::retryable)?;
    Ok(resource.name)
}
