//! What an operator checks in the exchange after an incident (and the fault drill and the
//! tests after theirs): it holds exactly what the current manifests name, plus superseded
//! objects still within their grace period, and no staging file an interrupted upload left.

use airlock_domain::manifest::manifest_key;
use airlock_domain::Connection;
use airlock_protocol::{open_manifest, ManifestExpectations};
use airlock_runtime::Context;
use airlock_store::object_store::path::Path as ObjectPath;
use airlock_store::object_store::ObjectStore;
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
    for shard in 0..sending.shard_count {
        let key = manifest_key(&sending.shared_id, shard);
        let sealed = match exchange.get(&ObjectPath::from(key.as_str())).await {
            Ok(found) => found.bytes().await.map_err(|e| format!("reading {key}: {e}"))?,
            Err(e) if airlock_store::is_not_found(&e) => continue,
            Err(e) => return Err(format!("reading {key}: {e}")),
        };
        let expect = ManifestExpectations {
            shared_id: &sending.shared_id,
            shard,
            last_applied_sequence: None,
            now: airlock_domain::now_millis(),
            max_bytes: ctx.settings.max_manifest_bytes,
        };
        let manifest = open_manifest(&keys, &sealed, &expect).map_err(|e| format!("opening {key}: {e}"))?;
        named.insert(key);
        named.extend(manifest.resources.into_iter().map(|e| e.object_key));
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
