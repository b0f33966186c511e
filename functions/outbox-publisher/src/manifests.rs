//! The signed manifest of a publish run and the shard entries objects it names.

use crate::publish::{Run, Setup};
use airlock_domain::manifest::{manifest_key, shard_count_for};
use airlock_domain::{
    failures, now_millis, shard_for, Manifest, ManifestEntry, Millis, ShardEntries, ShardRef, MANIFEST_FORMAT_VERSION,
};
use airlock_protocol::{open_manifest, open_shard, seal_manifest, ManifestExpectations};
use airlock_runtime::Context;
use airlock_store::object_store::{path::Path, PutPayload};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};

/// What `write_manifests` wrote: a run where nothing changed writes nothing.
pub(crate) struct Written {
    /// Entries the manifest names.
    pub entries: usize,
    pub shard_count: u32,
    shards_written: usize,
    /// The sequence of the manifest written, if one was.
    sequence: Option<u64>,
}

impl Written {
    pub fn describe(&self) -> String {
        match self.sequence {
            Some(sequence) => format!("manifest sequence {sequence}, {} shard(s) rewritten", self.shards_written),
            None => "manifest unchanged".into(),
        }
    }
}

fn failed(message: String) -> ManifestsError {
    ManifestsError::Failed(message)
}

/// Why `write_manifests` wrote no manifest.
pub(crate) enum ManifestsError {
    /// Writing failed: the sync fails with this message.
    Failed(String),
    /// A pass over the changed files cannot patch their shards: a pass over every file must.
    NeedEveryFile,
}

impl Run<'_> {
    /// Writes the shards whose entries changed as new immutable objects, then the signed
    /// root naming every shard, with a new sequence number. A run that changed nothing
    /// writes nothing, unless the root is past half its lifetime (then only the root, so the
    /// receiver fetches no shard). Replaced shard objects go after the grace period.
    /// `entries` are every entry, or after a pass over the changed files (`partial`) the
    /// entries of those: their shards are the last root's with these patched in. They are
    /// moved into their shards, not copied: a run over every file holds each entry once.
    pub(crate) async fn write_manifests(
        &self,
        entries: BTreeMap<String, ManifestEntry>,
    ) -> Result<Written, ManifestsError> {
        let conn = &self.setup.connection;
        let settings = &self.ctx.settings;
        // A pass over the changed files read the root already, to know it may keep it.
        let read_root;
        let previous: Option<&Manifest> = match &self.partial {
            Some(partial) => Some(&partial.root),
            None => {
                read_root = previous_root(self.ctx, self.setup).await;
                read_root.as_ref()
            }
        };
        let previous_count = previous.map(|p| p.shard_count);
        let (by_shard, shard_count, rebuild_all, dirty, entry_count) = match &self.partial {
            None => {
                // The connection's own count is honoured even above the platform's maximum,
                // which bounds only the growth.
                let max = settings.max_shards.max(conn.shard_count);
                let shard_count = shard_count_for(entries.len(), previous_count, conn.shard_count, max);
                let rebuild_all = self.rebuild_all || previous_count != Some(shard_count);
                let dirty: BTreeSet<u32> = self.changed.iter().map(|id| shard_for(id, shard_count)).collect();
                let entry_count = entries.len();
                let mut by_shard: Vec<Vec<ManifestEntry>> = vec![Vec::new(); shard_count as usize];
                if rebuild_all || !dirty.is_empty() {
                    for entry in entries.into_values() {
                        let shard = shard_for(&entry.resource_id, shard_count);
                        if rebuild_all || dirty.contains(&shard) {
                            by_shard[shard as usize].push(entry);
                        }
                    }
                }
                (by_shard, shard_count, rebuild_all, dirty, entry_count)
            }
            Some(partial) => {
                let (by_shard, dirty, total) = self.patched_shards(&partial.root, &partial.read, &entries).await?;
                (by_shard, partial.root.shard_count, false, dirty, total)
            }
        };
        let mut shards = Vec::with_capacity(shard_count as usize);
        let mut replaced = Vec::new();
        let mut shards_written = 0;
        for (shard, resources) in by_shard.into_iter().enumerate() {
            let shard = shard as u32;
            let kept = previous.filter(|_| !rebuild_all).map(|p| &p.shards[shard as usize]);
            if let Some(kept) = kept.filter(|_| !dirty.contains(&shard)) {
                shards.push(kept.clone());
                continue;
            }
            let content = ShardEntries { shared_id: conn.shared_id.clone(), shard, shard_count, resources };
            let (bytes, shard_ref) = content.to_object();
            let before = previous.and_then(|p| p.shards.get(shard as usize));
            if before.is_some_and(|b| b.key == shard_ref.key) {
                shards.push(shard_ref);
                continue;
            }
            self.setup
                .outbox
                .put(&Path::from(shard_ref.key.as_str()), PutPayload::from(bytes))
                .await
                .map_err(|e| failed(failures::outbox_write_failed(format!("entries of shard {shard}: {e}"))))?;
            shards_written += 1;
            shards.push(shard_ref);
        }
        let kept: BTreeSet<&str> = shards.iter().map(|s| s.key.as_str()).collect();
        if let Some(previous) = previous {
            replaced.extend(previous.shards.iter().filter(|s| !kept.contains(s.key.as_str())).map(|s| s.key.clone()));
        }
        if rebuild_all {
            // A run that stopped between its shards and its root may have left shards no
            // root names: found by listing (a rebuild is rare; the listing holds only shards).
            for stray in self.stray_shards(&kept).await {
                if !replaced.contains(&stray) {
                    replaced.push(stray);
                }
            }
        }

        let now = now_millis();
        let repo = &self.ctx.repo;
        // Scheduled before the root naming the replaced shards is replaced, as objects are.
        let due_at = now + settings.object_grace.as_millis() as i64;
        repo.schedule_deletions(&conn.id, &replaced, due_at).await.map_err(|e| failed(e.to_string()))?;
        let ttl = settings.manifest_ttl.as_millis() as i64;
        let unchanged = previous.is_some_and(|p| {
            p.shards == shards && p.max_level == self.platform.max_level && p.expires_at - now > ttl / 2
        });
        if unchanged {
            return Ok(Written { entries: entry_count, shard_count, shards_written, sequence: None });
        }
        let sequence = repo.next_manifest_sequence(&conn.id).await.map_err(|e| failed(e.to_string()))?;
        let manifest = Manifest {
            version: MANIFEST_FORMAT_VERSION,
            shared_id: conn.shared_id.clone(),
            shard_count,
            sequence,
            generated_at: now,
            expires_at: now + ttl,
            max_level: self.platform.max_level.clone(),
            shards,
        };
        let sealed = seal_manifest(&self.setup.keys, &manifest);
        let digest = hex::encode(Sha256::digest(&sealed));
        self.setup
            .outbox
            .put(&Path::from(manifest_key(&conn.shared_id)), PutPayload::from(sealed))
            .await
            .map_err(|e| failed(failures::outbox_write_failed(format!("manifest: {e}"))))?;
        repo.set_published_root(&conn.id, &digest).await.map_err(|e| failed(e.to_string()))?;
        Ok(Written { entries: entry_count, shard_count, shards_written, sequence: Some(sequence) })
    }

    /// The entries of the shards holding a changed file, as the last root names them with
    /// the files this pass `read` patched in (`entries` has those still published); which
    /// shards those are; and how many entries the manifest then names. Each shard object is
    /// read back and checked against the root's digest; if one is not as written, or the
    /// shard count would move, a pass over every file is needed instead.
    async fn patched_shards(
        &self,
        root: &Manifest,
        read: &BTreeSet<String>,
        entries: &BTreeMap<String, ManifestEntry>,
    ) -> Result<(Vec<Vec<ManifestEntry>>, BTreeSet<u32>, usize), ManifestsError> {
        let conn = &self.setup.connection;
        let settings = &self.ctx.settings;
        let shard_count = root.shard_count;
        let dirty: BTreeSet<u32> = self.changed.iter().map(|id| shard_for(id, shard_count)).collect();
        let mut ours: BTreeMap<u32, Vec<&ManifestEntry>> = BTreeMap::new();
        for entry in entries.values() {
            ours.entry(shard_for(&entry.resource_id, shard_count)).or_default().push(entry);
        }
        let mut by_shard: Vec<Vec<ManifestEntry>> = vec![Vec::new(); shard_count as usize];
        for &shard in &dirty {
            let shard_ref = &root.shards[shard as usize];
            let Some(content) = self.read_shard(root, shard_ref).await else {
                return Err(ManifestsError::NeedEveryFile);
            };
            let mut patched: BTreeMap<String, ManifestEntry> = content
                .resources
                .into_iter()
                .filter(|e| !read.contains(&e.resource_id))
                .map(|e| (e.resource_id.clone(), e))
                .collect();
            for entry in ours.remove(&shard).unwrap_or_default() {
                patched.insert(entry.resource_id.clone(), entry.clone());
            }
            by_shard[shard as usize] = patched.into_values().collect();
        }
        let total: usize = (0..shard_count as usize)
            .map(|i| if dirty.contains(&(i as u32)) { by_shard[i].len() } else { root.shards[i].entries as usize })
            .sum();
        let max = settings.max_shards.max(conn.shard_count);
        if shard_count_for(total, Some(shard_count), conn.shard_count, max) != shard_count {
            return Err(ManifestsError::NeedEveryFile);
        }
        Ok((by_shard, dirty, total))
    }

    /// One shard object the last root names, if it is in the outbox as written.
    async fn read_shard(&self, root: &Manifest, shard_ref: &ShardRef) -> Option<ShardEntries> {
        let max_bytes = self.ctx.settings.max_manifest_bytes;
        let result = self.setup.outbox.get(&Path::from(shard_ref.key.as_str())).await.ok()?;
        let bytes = airlock_store::read_at_most(result, max_bytes + 1).await.ok()?;
        match open_shard(root, shard_ref, &bytes, max_bytes) {
            Ok(content) => Some(content),
            Err(e) => {
                tracing::warn!(key = %shard_ref.key, error = %e, "a shard object is not as written; reading every file");
                None
            }
        }
    }

    /// Shard entries objects under the connection's shared ID that `kept` does not name.
    /// A listing that fails finds none: the next rebuild looks again.
    async fn stray_shards(&self, kept: &BTreeSet<&str>) -> Vec<String> {
        let prefix = Path::from(self.setup.connection.shared_id.as_str());
        let Ok(top) = self.setup.outbox.list_with_delimiter(Some(&prefix)).await else {
            return Vec::new();
        };
        let mut stray = Vec::new();
        for dir in top.common_prefixes.iter().filter(|p| p.filename().is_some_and(|f| f.starts_with("shard"))) {
            let Ok(listed) = self.setup.outbox.list_with_delimiter(Some(dir)).await else {
                continue;
            };
            stray.extend(
                listed
                    .objects
                    .into_iter()
                    .map(|meta| meta.location.to_string())
                    .filter(|key| key.rsplit('/').next().is_some_and(|f| f.starts_with("entries-")))
                    .filter(|key| !kept.contains(key.as_str())),
            );
        }
        stray
    }
}

/// The root this connection last wrote, if it is in the outbox byte for byte and opens
/// with the connection's keys (expired or not): what this run may keep of it. Anything
/// else (none yet, a new secret, the object damaged, gone, or replaced by someone else
/// holding the secret) means every shard is written afresh.
pub(crate) async fn previous_root(ctx: &Context, setup: &Setup) -> Option<Manifest> {
    let conn = &setup.connection;
    let written = ctx.repo.published_root(&conn.id).await.ok()??;
    let key = manifest_key(&conn.shared_id);
    let result = setup.outbox.get(&Path::from(key.as_str())).await.ok()?;
    let max_bytes = ctx.settings.max_manifest_bytes;
    let bytes = airlock_store::read_at_most(result, max_bytes + 1).await.ok()?;
    if hex::encode(Sha256::digest(&bytes)) != written {
        tracing::warn!(connection_id = %conn.id, key, "the outbox manifest is not the one last written; rebuilding");
        return None;
    }
    let expect = ManifestExpectations {
        shared_id: &setup.connection.shared_id,
        last_applied_sequence: None,
        now: Millis::MIN,
        max_bytes,
    };
    let root = open_manifest(&setup.keys, &bytes, &expect).ok()?;
    (root.shards.len() == root.shard_count as usize).then_some(root)
}
