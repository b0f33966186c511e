//! The end of every drill: B holds exactly the shared files, byte-identical, each at its
//! newest revision; the exchange holds nothing the manifests and the grace period do not
//! name and no staging file; no sync event is stuck in 'running'; the history adds up.

use crate::workload::{sha256_hex, Workload};
use airlock_domain::pipeline::ResourceOutcome;
use airlock_domain::Millis;
use airlock_local::audit::{audit_exchange, staging_files};
use airlock_local::fleet::Fleet;
use airlock_local::pair::{Pair, BOB};
use airlock_repo::{SyncEvent, SyncState};
use airlock_services::registry;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// A sync running longer than this at the end of a drill is stuck: in steady state one
/// takes a few seconds, and redelivery after a kill comes within the bus's ack wait.
const STUCK_AFTER: Duration = Duration::from_secs(90);

/// B's files by name: (resource id, SHA-256 of the newest revision) per file of that name.
async fn b_view(pair: &Pair) -> anyhow::Result<BTreeMap<String, Vec<(String, String)>>> {
    let mut view: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
    for resource in registry::files_visible_to(&pair.b.ctx, BOB).await? {
        let sha = pair.b.ctx.repo.latest_revision(&resource.id).await?.map(|r| r.sha256).unwrap_or_default();
        view.entry(resource.name).or_default().push((resource.id, sha));
    }
    Ok(view)
}

/// How B differs from what A shares, or `None` when it holds exactly that.
fn difference(workload: &Workload, view: &BTreeMap<String, Vec<(String, String)>>) -> Option<String> {
    let missing = workload.shared.keys().filter(|n| !view.contains_key(*n)).count();
    let extra = view.keys().filter(|n| !workload.shared.contains_key(*n)).count();
    let doubled = view.values().filter(|v| v.len() > 1).count();
    let stale = workload
        .shared
        .iter()
        .filter(|(name, f)| view.get(*name).is_some_and(|v| v.len() == 1 && v[0].1 != f.sha256))
        .count();
    (missing + extra + doubled + stale > 0)
        .then(|| format!("{missing} missing, {extra} extra, {doubled} held twice, {stale} not at the newest revision"))
}

/// Waits until B holds exactly what A shares (restarting functions that exit meanwhile).
pub async fn wait_converged(
    pair: &Pair,
    workload: &Workload,
    fleet: &mut Fleet,
    timeout: Duration,
) -> anyhow::Result<Result<Duration, String>> {
    let started = Instant::now();
    loop {
        fleet.restart_exited()?;
        let last = match b_view(pair).await {
            Ok(view) => match difference(workload, &view) {
                None => return Ok(Ok(started.elapsed())),
                Some(diff) => diff,
            },
            Err(e) => format!("reading B failed: {e}"),
        };
        if started.elapsed() >= timeout {
            return Ok(Err(format!("not converged after {} s: {last}", timeout.as_secs())));
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}

#[derive(Debug, Default)]
pub struct Verdict {
    pub exact: bool,
    pub newest: bool,
    pub orphans: usize,
    pub missing_objects: usize,
    pub staging: usize,
    pub stuck: usize,
    /// Events finished by the deadline sweep (a report never came).
    pub expired: usize,
    /// Events whose rows do not add up.
    pub bad_history: usize,
    pub notes: Vec<String>,
}

impl Verdict {
    pub fn passed(&self) -> bool {
        self.exact
            && self.newest
            && self.orphans == 0
            && self.missing_objects == 0
            && self.staging == 0
            && self.stuck == 0
            && self.bad_history == 0
    }

    pub fn line(&self) -> String {
        let ok = |b: bool| if b { "ok" } else { "FAILED" };
        format!(
            "exact={} newest={} orphans={} missing={} staging={} stuck={} expired={} history={}",
            ok(self.exact),
            ok(self.newest),
            self.orphans,
            self.missing_objects,
            self.staging,
            self.stuck,
            self.expired,
            ok(self.bad_history == 0)
        )
    }
}

/// Every check, once B has converged (or the wait gave up, which `converged` says).
pub async fn verdict(
    pair: &Pair,
    workload: &Workload,
    fleet: &mut Fleet,
    converged: &Result<Duration, String>,
    since: Millis,
) -> anyhow::Result<Verdict> {
    let mut verdict = Verdict::default();
    if let Err(why) = converged {
        verdict.notes.push(why.clone());
    }
    // Exactly the shared files, each once, and their bytes are the newest revision's.
    let view = b_view(pair).await?;
    verdict.exact = view.len() == workload.shared.len()
        && view.values().all(|v| v.len() == 1)
        && workload.shared.keys().all(|n| view.contains_key(n));
    let mut stale = 0;
    for (name, file) in &workload.shared {
        let Some([(id, _)]) = view.get(name).map(Vec::as_slice) else { continue };
        let bytes = registry::read_file(&pair.b.ctx, BOB, id).await?;
        if sha256_hex(&bytes) != file.sha256 {
            stale += 1;
        }
    }
    verdict.newest = stale == 0 && verdict.exact;
    if stale > 0 {
        verdict.notes.push(format!("{stale} file(s) at B differ from A's newest revision"));
    }

    // The syncs that were under way when B converged finish; a kill's redelivery comes
    // within the bus's ack wait.
    let settle = Instant::now();
    let (mut stuck, mut events) = (Vec::new(), Vec::new());
    while settle.elapsed() < STUCK_AFTER + Duration::from_secs(30) {
        fleet.restart_exited()?;
        events = all_events(pair, since).await?;
        let now = airlock_domain::now_millis();
        stuck = events
            .iter()
            .filter(|e| e.state == SyncState::Running && now - e.started_at > STUCK_AFTER.as_millis() as i64)
            .map(|e| e.sync_id.clone())
            .collect();
        if stuck.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_secs(3)).await;
    }
    verdict.stuck = stuck.len();
    if !stuck.is_empty() {
        verdict.notes.push(format!("stuck in 'running': {}", stuck.join(", ")));
    }
    verdict.expired = events.iter().filter(|e| e.message.starts_with("sync did not finish within")).count();
    for event in events.iter().filter(|e| e.state != SyncState::Running) {
        let failed_rows = event.resources.iter().filter(|r| r.outcome == ResourceOutcome::Failed).count() as u32;
        if event.resources.len() as u32 != event.rows || failed_rows != event.failed {
            verdict.bad_history += 1;
            verdict.notes.push(format!(
                "sync {}: {} row(s) listed, {} counted, {} failed listed, {} counted",
                event.sync_id,
                event.resources.len(),
                event.rows,
                failed_rows,
                event.failed
            ));
        }
    }

    // Staging files of interrupted uploads (in the exchange, or in B's registry from a
    // killed ingester) go at the scheduler's next sweep once old enough.
    let registry_b = pair.exchange_dir.with_file_name("registry-b");
    let leftovers = || [staging_files(&pair.exchange_dir), staging_files(&registry_b)].concat();
    let sweep_wait = Instant::now();
    let mut staging = leftovers();
    while !staging.is_empty() && sweep_wait.elapsed() < Duration::from_secs(45) {
        tokio::time::sleep(Duration::from_secs(3)).await;
        staging = leftovers();
    }
    verdict.staging = staging.len();
    if !staging.is_empty() {
        verdict.notes.push(format!("staging files left: {}", staging.join(", ")));
    }

    let audit = audit_exchange(&pair.a.ctx, &pair.sending, &pair.exchange, None).await.map_err(anyhow::Error::msg)?;
    verdict.orphans = audit.orphans.len();
    verdict.missing_objects = audit.missing.len();
    for (what, keys) in [("orphan", &audit.orphans), ("missing", &audit.missing)] {
        if !keys.is_empty() {
            let shown: Vec<&str> = keys.iter().take(5).map(String::as_str).collect();
            verdict.notes.push(format!("{} {what} object(s), e.g. {}", keys.len(), shown.join(", ")));
        }
    }
    Ok(verdict)
}

/// Both sides' events that started since `since`, with their rows.
async fn all_events(pair: &Pair, since: Millis) -> anyhow::Result<Vec<SyncEvent>> {
    let mut events = pair.a.ctx.repo.sync_events(&pair.sending.id, false, 2000, 0).await?;
    events.extend(pair.b.ctx.repo.sync_events(&pair.receiving.id, false, 2000, 0).await?);
    events.retain(|e| e.started_at >= since);
    Ok(events)
}
