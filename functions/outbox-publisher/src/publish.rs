use airlock_domain::manifest::{manifest_key, object_key};
use airlock_domain::pipeline::{PublishRequest, ResourceOutcome, ResourceRow};
use airlock_domain::{
    failures, now_millis, shard_for, transform, Connection, ConnectionKind, InfosecLevel, Manifest, ManifestEntry,
    PlatformSettings, Resource, TagSet, MANIFEST_FORMAT_VERSION,
};
use airlock_protocol::{seal_manifest, ChannelKeys};
use airlock_repo::{PublishedEntry, RepoError};
use airlock_runtime::{Context, HandlerError};
use airlock_store::object_store::{path::Path, ObjectStore, PutPayload};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use tokio::io::AsyncWriteExt;

/// How a publish run failed short of an outcome: the database briefly away (worth another
/// delivery), a connection that doesn't exist, a registry store not configured, or the
/// connection's publish running elsewhere.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error(transparent)]
    Repo(#[from] RepoError),
    #[error("connection '{0}' not found")]
    UnknownConnection(String),
    #[error("{0}")]
    Misconfigured(String),
    #[error("a publish of connection '{0}' is running elsewhere; this one waits for it")]
    Busy(String),
}

impl From<PublishError> for HandlerError {
    fn from(error: PublishError) -> Self {
        match error {
            PublishError::Repo(_) => HandlerError::Retryable(error.to_string()),
            PublishError::Busy(_) => HandlerError::Deferred(error.to_string()),
            PublishError::UnknownConnection(_) | PublishError::Misconfigured(_) => {
                HandlerError::Permanent(error.to_string())
            }
        }
    }
}

pub enum PublishOutcome {
    /// Nothing to do (archived or not a sending connection).
    Skipped(&'static str),
    Published {
        summary: String,
        rows: Vec<ResourceRow>,
    },
    /// The sync failed as a whole (no manifest produced), with the rows done before.
    Failed {
        message: String,
        rows: Vec<ResourceRow>,
    },
}

/// One publish run of a sending connection. At most one runs per connection at a time,
/// across processes: a second waits (`Busy`) for the first to finish.
pub async fn publish(ctx: &Context, request: &PublishRequest) -> Result<PublishOutcome, PublishError> {
    let Some(lease) = ctx.take_lease(&request.lease_key()).await? else {
        return Err(PublishError::Busy(request.connection_id.clone()));
    };
    let outcome = publish_holding_lease(ctx, request).await;
    lease.release().await;
    outcome
}

async fn publish_holding_lease(ctx: &Context, request: &PublishRequest) -> Result<PublishOutcome, PublishError> {
    let repo = &ctx.repo;
    let Some(connection) = repo.connection(&request.connection_id).await? else {
        return Err(PublishError::UnknownConnection(request.connection_id.clone()));
    };
    if connection.kind != ConnectionKind::Sending {
        return Ok(PublishOutcome::Skipped("not a sending connection"));
    }
    if !connection.is_active() {
        return Ok(PublishOutcome::Skipped("connection is archived"));
    }
    let outbox = match ctx.stores.get(&connection.store_label) {
        Ok(store) => store,
        Err(e) => return Ok(PublishOutcome::Failed { message: e.to_string(), rows: Vec::new() }),
    };
    let keys = match ctx.channel_keys(&connection).await {
        Ok(keys) => keys,
        Err(message) => return Ok(PublishOutcome::Failed { message: message.into(), rows: Vec::new() }),
    };
    let registry = ctx.registry_store().map_err(|e| PublishError::Misconfigured(e.to_string()))?;

    let platform = ctx.repo.platform().await?;
    let mut run = Run {
        ctx,
        connection: &connection,
        keys: &keys,
        outbox: outbox.clone(),
        registry,
        platform,
        classification: BTreeMap::new(),
        rows: Vec::new(),
    };
    let mut entries = run.collect_entries().await?;
    // Copying may have taken long, and the connection may have been archived or narrowed
    // meanwhile: the manifests name only what it allows now, read once for the whole run.
    let Some(current) = repo.connection(&connection.id).await? else {
        return Err(PublishError::UnknownConnection(connection.id.clone()));
    };
    if !current.is_active() {
        return Ok(PublishOutcome::Failed { message: failures::ARCHIVED_DURING_PUBLISH.into(), rows: run.rows });
    }
    run.withdraw_no_longer_allowed(&current, &mut entries).await?;
    let published_count = entries.len();
    if let Err(message) = run.write_manifests(&entries).await {
        return Ok(PublishOutcome::Failed { message, rows: run.rows });
    }
    remove_due_objects(ctx, &connection.id, &outbox, now_millis()).await?;
    let failed = run.rows.iter().filter(|r| r.outcome == ResourceOutcome::Failed).count();
    let changed = run.rows.len() - failed;
    let summary = format!(
        "published {published_count} resource(s) in {} shard(s): {changed} change(s), {failed} failure(s)",
        connection.shard_count
    );
    Ok(PublishOutcome::Published { summary, rows: run.rows })
}

/// Objects removed per run at most, so a backlog spreads over runs instead of one long one.
const DELETIONS_PER_RUN: u32 = 1_000;

/// Removes the superseded objects whose grace period is over. A removal that fails stays
/// scheduled and is tried again by the next run.
async fn remove_due_objects(
    ctx: &Context,
    connection_id: &str,
    outbox: &Arc<dyn ObjectStore>,
    now: airlock_domain::Millis,
) -> Result<(), PublishError> {
    let due = ctx.repo.due_deletions(connection_id, now, DELETIONS_PER_RUN).await?;
    let mut removed = Vec::with_capacity(due.len());
    for key in due {
        match outbox.delete(&Path::from(key.as_str())).await {
            Ok(()) => removed.push(key),
            Err(e) if airlock_store::is_not_found(&e) => removed.push(key),
            Err(e) => {
                tracing::warn!(key, error = %e, "could not delete a superseded outbox object; tried again next run")
            }
        }
    }
    ctx.repo.forget_deletions(connection_id, &removed).await?;
    Ok(())
}

struct Run<'a> {
    ctx: &'a Context,
    connection: &'a Connection,
    keys: &'a ChannelKeys,
    outbox: Arc<dyn ObjectStore>,
    registry: Arc<dyn ObjectStore>,
    /// One read per run, so eligibility and the manifests' max level agree.
    platform: PlatformSettings,
    /// Each entry's level and tags as the registry holds them (before the sending
    /// transforms), to check them again against the connection as it is at the end.
    classification: BTreeMap<String, (InfosecLevel, TagSet)>,
    rows: Vec<ResourceRow>,
}

impl Run<'_> {
    /// The entries the manifests will carry. Outbox objects they no longer name are
    /// scheduled for deletion before the record naming them goes, so a run that stops
    /// anywhere after (killed, or its manifests not written) leaves no object that nothing
    /// names: a receiver may still be working from the previous manifest, so they go after
    /// the grace period, removed by a later run once its manifests are out.
    async fn collect_entries(&mut self) -> Result<BTreeMap<String, ManifestEntry>, PublishError> {
        let repo = &self.ctx.repo;
        let conn = self.connection;
        let policy = conn.sending_policy(self.platform.infosec_enabled);
        let lowest = self.platform.lowest_level().order;
        let rules = repo.transforms(&conn.id).await?;
        let mut previous: BTreeMap<String, PublishedEntry> =
            repo.published(&conn.id).await?.into_iter().map(|p| (p.resource_id.clone(), p)).collect();
        let mut entries = BTreeMap::new();
        let due_at = now_millis() + self.ctx.settings.object_grace.as_millis() as i64;

        for share in repo.active_shares(&conn.id).await? {
            let resource = repo.resource(&share.resource_id).await?;
            let Some(resource) = resource.filter(|r| r.withdrawn_at.is_none()) else {
                self.remove_share(&share.resource_id, &share.resource_id, "the file no longer exists in the registry")
                    .await?;
                continue;
            };
            if let Err(why) = policy.check(&resource.level, &resource.tags, lowest) {
                self.remove_share(&resource.id, &resource.name, &why.to_string()).await?;
                continue;
            }
            self.classification.insert(resource.id.clone(), (resource.level.clone(), resource.tags.clone()));
            let Some(revision) = repo.latest_revision(&resource.id).await? else {
                self.row(&resource, ResourceOutcome::Failed, "the file has no revision to publish".into());
                continue;
            };
            let shard = shard_for(&resource.id, conn.shard_count);
            let entry = ManifestEntry {
                resource_id: resource.id.clone(),
                revision_id: revision.id.clone(),
                name: resource.name.clone(),
                size: revision.size,
                sha256: revision.sha256.clone(),
                object_key: object_key(&conn.shared_id, shard, &resource.id, &revision.id, &self.keys.key_id()),
                tags: transform::apply(&rules, &resource.tags),
                level: resource.level.clone(),
            };
            let entry_json = serde_json::to_string(&entry).expect("manifest entry serializes");
            let before = previous.remove(&resource.id);
            let content_there = before.as_ref().is_some_and(|b| b.object_key == entry.object_key);
            if !content_there {
                if let Err(message) = self.copy_revision(&entry, &revision.blob_key).await {
                    self.row(&resource, ResourceOutcome::Failed, message);
                    // The partner keeps the revision it already has, if any.
                    if let Some(b) = before {
                        if let Ok(old) = serde_json::from_str::<ManifestEntry>(&b.entry_json) {
                            entries.insert(resource.id.clone(), old);
                        }
                    }
                    continue;
                }
                // Scheduled before the new record replaces the one naming it (per changed
                // file, as that write is).
                if let Some(b) = &before {
                    repo.schedule_deletions(&conn.id, std::slice::from_ref(&b.object_key), due_at).await?;
                }
                self.row(
                    &resource,
                    ResourceOutcome::Updated,
                    format!("published revision {} ({} bytes)", revision.id, revision.size),
                );
            } else if before.as_ref().is_some_and(|b| b.entry_json != entry_json) {
                self.row(&resource, ResourceOutcome::Updated, "published changed name, tags or level".into());
            }
            let record = PublishedEntry {
                connection_id: conn.id.clone(),
                resource_id: resource.id.clone(),
                revision_id: revision.id.clone(),
                shard,
                object_key: entry.object_key.clone(),
                entry_json,
            };
            // Unchanged files (most of them, most syncs) need no write.
            if before.as_ref() != Some(&record) {
                repo.put_published(&record).await?;
            }
            entries.insert(resource.id.clone(), entry);
        }

        // What was published before and is no longer shared leaves the manifests.
        let gone_keys: Vec<String> = previous.values().map(|gone| gone.object_key.clone()).collect();
        repo.schedule_deletions(&conn.id, &gone_keys, due_at).await?;
        for (resource_id, gone) in previous {
            repo.delete_published(&conn.id, &resource_id).await?;
            if !self.rows.iter().any(|r| r.resource_id == resource_id) {
                let name = serde_json::from_str::<ManifestEntry>(&gone.entry_json).map(|e| e.name).unwrap_or_default();
                self.rows.push(ResourceRow {
                    resource_id,
                    name,
                    outcome: ResourceOutcome::Removed,
                    message: "no longer shared with this connection".into(),
                });
            }
        }
        Ok(entries)
    }

    /// Takes out of `entries` what the connection, as re-read just before the manifests are
    /// written, no longer allows: its share is removed with the reason, its object goes
    /// after the grace period, and the manifests list it as removed.
    async fn withdraw_no_longer_allowed(
        &mut self,
        current: &Connection,
        entries: &mut BTreeMap<String, ManifestEntry>,
    ) -> Result<(), PublishError> {
        let policy = current.sending_policy(self.platform.infosec_enabled);
        let lowest = self.platform.lowest_level().order;
        let refused: Vec<(String, String)> = entries
            .keys()
            .filter_map(|id| {
                let (level, tags) = self.classification.get(id)?;
                policy.check(level, tags, lowest).err().map(|why| (id.clone(), why.to_string()))
            })
            .collect();
        for (resource_id, why) in refused {
            let entry = entries.remove(&resource_id).expect("refused entries come from the map");
            // Scheduled before the record naming it goes, as in collect_entries.
            let due_at = now_millis() + self.ctx.settings.object_grace.as_millis() as i64;
            self.ctx
                .repo
                .schedule_deletions(&self.connection.id, std::slice::from_ref(&entry.object_key), due_at)
                .await?;
            self.ctx.repo.delete_published(&self.connection.id, &resource_id).await?;
            // Its row says why it left, not that it was copied a moment ago.
            self.rows.retain(|r| r.resource_id != resource_id);
            self.remove_share(&resource_id, &entry.name, &format!("{why} (changed while this publish ran)")).await?;
        }
        Ok(())
    }

    async fn remove_share(&mut self, resource_id: &str, name: &str, reason: &str) -> Result<(), PublishError> {
        self.ctx.repo.remove_share(&self.connection.id, resource_id, reason, now_millis()).await?;
        tracing::info!(connection_id = %self.connection.id, resource_id, reason, "shared file removed from connection");
        self.rows.push(ResourceRow {
            resource_id: resource_id.into(),
            name: name.into(),
            outcome: ResourceOutcome::Removed,
            message: format!("removed from the connection: {reason}"),
        });
        Ok(())
    }

    fn row(&mut self, resource: &Resource, outcome: ResourceOutcome, message: String) {
        self.rows.push(ResourceRow { resource_id: resource.id.clone(), name: resource.name.clone(), outcome, message });
    }

    /// Streams one revision from the registry, encrypted, into the outbox.
    async fn copy_revision(&self, entry: &ManifestEntry, blob_key: &str) -> Result<(), String> {
        let fail = |what: String| {
            failures::outbox_write_failed(format!("revision {} size={}: {what}", entry.revision_id, entry.size))
        };
        let source = airlock_store::reader(&self.registry, blob_key)
            .await
            .map_err(|e| fail(format!("reading the registry copy failed: {e}")))?;
        let mut sink = airlock_store::writer(self.outbox.clone(), &entry.object_key);
        let key = self.keys.payload_key(&entry.revision_id);
        let result = airlock_protocol::encrypt_stream(&key, source, &mut sink, self.ctx.settings.chunk_size).await;
        let summary = match result {
            Ok(summary) => summary,
            Err(e) => {
                let _ = sink.abort().await;
                return Err(fail(e.to_string()));
            }
        };
        if summary.sha256 != entry.sha256 || summary.plain_size != entry.size {
            let _ = sink.abort().await;
            return Err(fail(format!(
                "the registry copy does not match its recorded checksum (sha256 {} != {})",
                summary.sha256, entry.sha256
            )));
        }
        sink.shutdown().await.map_err(|e| fail(e.to_string()))
    }

    /// Writes one signed manifest per shard, all with the same new sequence number.
    async fn write_manifests(&self, entries: &BTreeMap<String, ManifestEntry>) -> Result<(), String> {
        let conn = self.connection;
        let repo = &self.ctx.repo;
        let sequence = repo.next_manifest_sequence(&conn.id).await.map_err(|e| e.to_string())?;
        let removed_by_shard = self.removed_by_shard();
        let generated_at = now_millis();
        for shard in 0..conn.shard_count {
            let manifest = Manifest {
                version: MANIFEST_FORMAT_VERSION,
                shared_id: conn.shared_id.clone(),
                shard,
                shard_count: conn.shard_count,
                sequence,
                generated_at,
                expires_at: generated_at + self.ctx.settings.manifest_ttl.as_millis() as i64,
                max_level: self.platform.max_level.clone(),
                resources: entries
                    .values()
                    .filter(|e| shard_for(&e.resource_id, conn.shard_count) == shard)
                    .cloned()
                    .collect(),
                removed: removed_by_shard.get(&shard).map(|s| s.iter().cloned().collect()).unwrap_or_default(),
            };
            let sealed = seal_manifest(self.keys, &manifest);
            self.outbox
                .put(&Path::from(manifest_key(&conn.shared_id, shard)), PutPayload::from(sealed))
                .await
                .map_err(|e| failures::outbox_write_failed(format!("manifest of shard {shard}: {e}")))?;
        }
        Ok(())
    }

    fn removed_by_shard(&self) -> BTreeMap<u32, BTreeSet<String>> {
        let mut removed: BTreeMap<u32, BTreeSet<String>> = BTreeMap::new();
        for row in self.rows.iter().filter(|r| r.outcome == ResourceOutcome::Removed) {
            removed
                .entry(shard_for(&row.resource_id, self.connection.shard_count))
                .or_default()
                .insert(row.resource_id.clone());
        }
        removed
    }
}
