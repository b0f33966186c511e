//! What an operator checks in the exchange after an incident (and the fault drill and the
//! tests after theirs): it holds exactly what the current manifests name, plus superseded
//! objects still within their grace period, and no staging file an interrupted upload left.

use airlock_domain::manifest::manifest_key;
use airlock_domain::{Connection, Manifest, ShardEntries};
use airlock_protocol::{open_manifest, open_shard, seal_manifest, ChannelKeys, ManifestExpectations};
use airlock_runtime::Context;
use airlock_store::object_store::path::Path as ObjectPath;
use airlock_store::object_store::ObjectStore;
use airlock_store::object_store::PutPayload;
use futures::TryStreamExt;
use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;

/// The exchange of one sending connection, held against its current manifests.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ExchangeAudit {
    /// Objects the current manifests name (the manifests themselves included).
    pub named: usize,
    /// Superseded objects still there, waiting for their grace period.
    pub pending: usize,
    /// Objects nothing names and nothing will remove.
    pub orphans: Vec<String>,
    /// Objects a current manifest names that are not there.
    pub missing: Vec<String>,
    /// Staging files of interrupted uploads (directory exchanges only).
    pub staging: Vec<String>,
}

impl ExchangeAudit {
    /// Whether the exchange holds exactly what it should.
    pub fn is_clean(&self) -> bool {
        self.orphans.is_empty() && self.missing.is_empty() && self.staging.is_empty()
    }
}

/// Reads the sending connection's manifests (with its platform's keys) and lists the
/// exchange under its shared ID; `exchange_dir` is also walked for staging files.
pub async fn audit_exchange(
    ctx: &Context,
    sending: &Connection,
    exchange: &Arc<dyn ObjectStore>,
    exchange_dir: Option<&Path>,
) -> Result<ExchangeAudit, String> {
    let keys = ctx.channel_keys(sending).await.map_err(str::to_owned)?;
    let mut named = BTreeSet::new();
    if let Some((manifest, shards)) =
        read_published(exchange, &keys, &sending.shared_id, ctx.settings.max_manifest_bytes).await?
    {
        named.insert(manifest_key(&sending.shared_id));
        named.extend(manifest.shards.into_iter().map(|s| s.key));
        named.extend(shards.into_iter().flat_map(|s| s.resources).map(|e| e.object_key));
    }
    let pending: BTreeSet<String> = ctx
        .repo
        .due_deletions(&sending.id, i64::MAX, u32::MAX)
        .await
        .map_err(|e| format!("reading pending deletions: {e}"))?
        .into_iter()
        .collect();
    let prefix = ObjectPath::from(sending.shared_id.as_str());
    let listed: BTreeSet<String> = exchange
        .list(Some(&prefix))
        .map_ok(|meta| meta.location.to_string())
        .try_collect()
        .await
        .map_err(|e| format!("listing the exchange: {e}"))?;
    Ok(ExchangeAudit {
        named: named.len(),
        pending: listed.intersection(&pending).count(),
        orphans: listed.iter().filter(|k| !named.contains(*k) && !pending.contains(*k)).cloned().collect(),
        missing: named.difference(&listed).cloned().collect(),
        staging: exchange_dir.map(staging_files).unwrap_or_default(),
    })
}

/// Files named `<name>#<digits>` under `root`: what the directory store writes before it
/// renames an object into place.
pub fn staging_files(root: &Path) -> Vec<String> {
    let mut found = Vec::new();
    let mut dirs = vec![root.to_owned()];
    while let Some(dir) = dirs.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
                continue;
            }
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.rsplit_once('#').is_some_and(|(_, n)| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit())) {
                found.push(path.strip_prefix(root).unwrap_or(&path).to_string_lossy().into_owned());
            }
        }
    }
    found.sort();
    found
}

/// The signed manifest a connection's exchange holds and every shard it names, opened with
/// `keys` (expired or not); `None` when there is no manifest yet.
pub async fn read_published(
    exchange: &Arc<dyn ObjectStore>,
    keys: &ChannelKeys,
    shared_id: &str,
    max_bytes: usize,
) -> Result<Option<(Manifest, Vec<ShardEntries>)>, String> {
    let key = manifest_key(shared_id);
    let Some(sealed) = read(exchange, &key).await? else {
        return Ok(None);
    };
    let expect = ManifestExpectations { shared_id, last_applied_sequence: None, now: i64::MIN, max_bytes };
    let manifest = open_manifest(keys, &sealed, &expect).map_err(|e| format!("opening {key}: {e}"))?;
    let mut shards = Vec::with_capacity(manifest.shards.len());
    for shard_ref in &manifest.shards {
        let bytes = read(exchange, &shard_ref.key).await?.ok_or_else(|| format!("{} is missing", shard_ref.key))?;
        shards.push(open_shard(&manifest, shard_ref, &bytes, max_bytes).map_err(|e| e.to_string())?);
    }
    Ok(Some((manifest, shards)))
}

/// Rewrites what a connection's exchange publishes as a sender holding `keys` would: `edit`
/// changes the manifest and its shards' entries, and every shard is stored again under its
/// new digest and the manifest sealed anew (its sequence as `edit` leaves it). For tests and
/// drills that play a partner who holds the secret.
pub async fn rewrite_published(
    exchange: &Arc<dyn ObjectStore>,
    keys: &ChannelKeys,
    shared_id: &str,
    edit: impl FnOnce(&mut Manifest, &mut Vec<ShardEntries>),
) -> Result<(), String> {
    let (mut manifest, mut shards) = read_published(exchange, keys, shared_id, usize::MAX)
        .await?
        .ok_or_else(|| format!("no manifest under {shared_id}"))?;
    edit(&mut manifest, &mut shards);
    manifest.shards.clear();
    for shard in &shards {
        let (bytes, shard_ref) = shard.to_object();
        exchange
            .put(&ObjectPath::from(shard_ref.key.as_str()), PutPayload::from(bytes))
            .await
            .map_err(|e| e.to_string())?;
        manifest.shards.push(shard_ref);
    }
    let key = manifest_key(shared_id);
    exchange
        .put(&ObjectPath::from(key.as_str()), PutPayload::from(seal_manifest(keys, &manifest)))
        .await
        .map_err(|e| format!("writing {key}: {e}"))?;
    Ok(())
}

async fn read(exchange: &Arc<dyn ObjectStore>, key: &str) -> Result<Option<bytes::Bytes>, String> {
    match exchange.get(&ObjectPath::from(key)).await {
        Ok(found) => found.bytes().await.map(Some).map_err(|e| format!("reading {key}: {e}")),
        Err(e) if airlock_store::is_not_found(&e) => Ok(None),
        Err(e) => Err(format!("reading {key}: {e}")),
    }
}
