use airlock_domain::manifest::manifest_key;
use airlock_domain::pipeline::{Change, IngestRequest, PollRequest};
use airlock_domain::policy::{check_manifest_max, LevelCheckError};
use airlock_domain::{messages, now_millis, shard_for, transform, Connection, ConnectionKind, Manifest, TagSet};
use airlock_protocol::{open_manifest, ChannelKeys, ManifestExpectations};
use airlock_repo::ManifestState;
use airlock_runtime::{Context, HandlerError};
use airlock_store::object_store::{path::Path, ObjectStore};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

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

pub async fn validate(ctx: &Context, request: &PollRequest) -> Result<Validation, HandlerError> {
    let repo = &ctx.repo;
    let Some(mut connection) = repo.connection(&request.connection_id).await.map_err(HandlerError::retryable)? else {
        return Err(HandlerError::Permanent(format!("connection '{}' not found", request.connection_id)));
    };
    if connection.kind != ConnectionKind::Receiving {
        return Ok(Validation::Skipped("not a receiving connection"));
    }
    if !connection.is_active() {
        return Ok(Validation::Skipped("connection is archived"));
    }
    let inbox = match ctx.stores.get(&connection.store_label) {
        Ok(store) => store,
        Err(e) => return Ok(Validation::Refused(e.to_string())),
    };
    let keys = match ctx.channel_keys(&connection).await {
        Ok(keys) => keys,
        Err(message) => return Ok(Validation::Refused(message.into())),
    };

    // Shard 0 tells how many shards the sender uses.
    let first = match read_shard(ctx, &connection, &inbox, &keys, 0).await? {
        Ok(verified) => verified,
        Err(message) => return Ok(Validation::Refused(message)),
    };
    let shard_count = first.manifest.shard_count.max(1);
    let mut shards = vec![first];
    for shard in 1..shard_count {
        match read_shard(ctx, &connection, &inbox, &keys, shard).await? {
            Ok(verified) => shards.push(verified),
            Err(message) => return Ok(Validation::Refused(message)),
        }
    }
    // Recorded from authenticated manifests before the policy check, so that the transform
    // editor can offer (and warn about) exactly the tags that fail the sync.
    let incoming: TagSet =
        shards.iter().flat_map(|s| s.manifest.resources.iter().flat_map(|e| e.tags.iter().cloned())).collect();
    repo.set_incoming_tags(&connection.id, &incoming).await.map_err(HandlerError::retryable)?;
    if let Err(message) = check_policy(ctx, &connection, &shards).await? {
        return Ok(Validation::Refused(message));
    }
    if connection.shard_count != shard_count {
        connection.shard_count = shard_count;
        repo.update_connection(&connection).await.map_err(HandlerError::retryable)?;
    }

    let ingests = diff(ctx, &connection, request, &shards).await?;
    for shard in &shards {
        let state = ManifestState {
            connection_id: connection.id.clone(),
            shard: shard.manifest.shard,
            sequence: shard.manifest.sequence,
            digest: shard.digest.clone(),
        };
        repo.put_manifest_state(&state).await.map_err(HandlerError::retryable)?;
    }
    let sequence = shards[0].manifest.sequence;
    let message = if shards.iter().all(|s| s.unchanged) && ingests.is_empty() {
        format!("manifest unchanged (sequence {sequence}); nothing to apply")
    } else {
        format!("manifest sequence {sequence} verified: {} change(s) to apply", ingests.len())
    };
    Ok(Validation::Accepted { message, ingests })
}

/// Reads and verifies one shard's manifest. `Ok(Err(message))` is a refusal of the sync;
/// `Err` a failure worth retrying (the store or database briefly away).
async fn read_shard(
    ctx: &Context,
    connection: &Connection,
    inbox: &Arc<dyn ObjectStore>,
    keys: &ChannelKeys,
    shard: u32,
) -> Result<Result<Verified, String>, HandlerError> {
    let key = manifest_key(&connection.shared_id, shard);
    let path = Path::from(key.as_str());
    let max_bytes = ctx.settings.max_manifest_bytes;
    // The size is checked before the body is read, so an oversized object costs nothing.
    let meta = match inbox.head(&path).await {
        Ok(meta) => meta,
        Err(e) if airlock_store::is_not_found(&e) => {
            return Ok(Err(messages::no_manifest_received(&key, &connection.store_label)));
        }
        Err(e) => return Err(HandlerError::retryable(format!("reading manifest '{key}' failed: {e}"))),
    };
    if meta.size as usize > max_bytes {
        return Ok(Err(
            airlock_protocol::ManifestError::TooLarge { size: meta.size as usize, max: max_bytes }.to_string()
        ));
    }
    let bytes = match inbox.get(&path).await {
        // HEAD's size is the store's word: the read itself is bounded too.
        Ok(result) => airlock_store::read_at_most(result, max_bytes + 1).await,
        Err(e) => Err(e),
    };
    let bytes = match bytes {
        Ok(bytes) => bytes,
        Err(e) if airlock_store::is_not_found(&e) => {
            return Ok(Err(messages::no_manifest_received(&key, &connection.store_label)));
        }
        Err(e) => return Err(HandlerError::retryable(format!("reading manifest '{key}' failed: {e}"))),
    };
    let digest = hex::encode(Sha256::digest(&bytes));
    let last = ctx.repo.manifest_state(&connection.id, shard).await.map_err(HandlerError::retryable)?;
    let unchanged = last.as_ref().is_some_and(|s| s.digest == digest);
    // The very manifest applied last is not a replay; anything else must be newer.
    let last_applied_sequence = last.map(|s| if unchanged { s.sequence.saturating_sub(1) } else { s.sequence });
    let expect = ManifestExpectations {
        shared_id: &connection.shared_id,
        shard,
        last_applied_sequence,
        now: now_millis(),
        max_bytes,
    };
    Ok(match open_manifest(keys, &bytes, &expect) {
        Ok(manifest) => Ok(Verified { manifest, digest, unchanged }),
        Err(e) => Err(format!("{e} ({key})")),
    })
}

/// The local policy over every shard: the partner's max level and each resource's level
/// within bounds, and every incoming tag covered by a remove or map rule.
async fn check_policy(
    ctx: &Context,
    connection: &Connection,
    shards: &[Verified],
) -> Result<Result<(), String>, HandlerError> {
    let platform = ctx.repo.platform().await.map_err(HandlerError::retryable)?;
    let rules = ctx.repo.transforms(&connection.id).await.map_err(HandlerError::retryable)?;
    let mut uncovered = TagSet::new();
    for shard in shards {
        let manifest = &shard.manifest;
        if let Err(e) = check_manifest_max(&manifest.max_level, &platform.max_level) {
            return Ok(Err(e.to_string()));
        }
        let prefix = format!("{}/shard{}/objects/", connection.shared_id, manifest.shard);
        for entry in &manifest.resources {
            // Even a validly signed manifest may only name objects of its own channel and shard.
            if !entry.object_key.starts_with(&prefix)
                || entry.object_key.split('/').any(|part| part == ".." || part.is_empty())
            {
                return Ok(Err(format!(
                    "manifest rejected: resource {}: object key '{}' is outside this channel's '{prefix}'",
                    entry.resource_id, entry.object_key
                )));
            }
            if shard_for(&entry.resource_id, manifest.shard_count) != manifest.shard {
                return Ok(Err(format!(
                    "manifest rejected: resource {} listed in shard {} but belongs to shard {}",
                    entry.resource_id,
                    manifest.shard,
                    shard_for(&entry.resource_id, manifest.shard_count)
                )));
            }
            if entry.level.order > manifest.max_level.order {
                let e =
                    LevelCheckError::AboveManifestMax { level: entry.level.clone(), max: manifest.max_level.clone() };
                return Ok(Err(format!("manifest rejected: resource {}: {e}", entry.resource_id)));
            }
            uncovered.extend(transform::uncovered(&rules, &entry.tags));
        }
    }
    if !uncovered.is_empty() {
        return Ok(Err(messages::uncovered_tags(&uncovered)));
    }
    Ok(Ok(()))
}

/// One ingest per resource that is new or changed, or that left the manifests.
async fn diff(
    ctx: &Context,
    connection: &Connection,
    request: &PollRequest,
    shards: &[Verified],
) -> Result<Vec<IngestRequest>, HandlerError> {
    let applied = ctx.repo.applied(&connection.id).await.map_err(HandlerError::retryable)?;
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
