//! The steps of a publish run. The plan reads what the connection shares and decides what
//! to copy: a few copies (at most `AIRLOCK_PUBLISH_INLINE_COPIES` and 256 MiB) it makes
//! itself, in one pass that ends with the manifest. More become `publish` messages of up to
//! 64 copies each, shared by every worker of the publisher; each copy is settled once (done or
//! failed) and the one that settles the last asks for the finish, a pass that writes the
//! manifest. The run holds the connection's lease under its own name from plan to finish,
//! renewed by each copy while it runs, so no other run starts meanwhile and any worker
//! may take any step. Every step may be delivered again: a redelivered plan sends the
//! unsettled copies again, a settled copy settles nothing twice, and a finish is the same
//! pass whenever it runs.

use crate::manifests::previous_root;
use crate::publish::{
    published_record, remove_due_objects, run_pass, Copies, PublishError, PublishOutcome, SettledCopy, Setup, Snapshot,
};
use airlock_bus::Topic;
use airlock_domain::pipeline::{copy_batches, PublishRequest, PublishStep};
use airlock_domain::{now_millis, Manifest, ManifestEntry};
use airlock_repo::{CopySettlement, PlannedCopy, RunState};
use airlock_runtime::{publish_json, Context, TraceContext};
use futures::stream::{self, StreamExt};

/// The most bytes a run copies inline; above it the copies fan out.
const INLINE_BYTES: u64 = 256 << 20;

pub(crate) async fn plan(
    ctx: &Context,
    request: &PublishRequest,
    trace: &TraceContext,
) -> Result<PublishOutcome, PublishError> {
    let Some(lease) = ctx.take_lease_as(&request.lease_key(), &request.run_holder()).await? else {
        return Err(PublishError::Busy(request.connection_id.clone()));
    };
    if let Some(state) = ctx.repo.run_progress(&request.sync_id).await? {
        // A plan delivered again after it fanned out: whatever it sent may be lost.
        drop(lease);
        return resume(ctx, request, &state, trace).await;
    }
    let setup = match Setup::load(ctx, &request.connection_id).await? {
        Ok(setup) => setup,
        Err(outcome) => {
            lease.release().await;
            return Ok(outcome);
        }
    };
    let since = since_last_run(ctx, &setup).await?;
    if let SinceLastRun::Nothing(summary) = since {
        lease.release().await;
        return Ok(PublishOutcome::Published { summary, rows: Vec::new() });
    }
    // A run that stopped short may have changed records its manifest never showed: this
    // one then rebuilds every shard instead of only those it changes.
    let begun = ctx.repo.begin_publish(&setup.connection.id).await?;
    let snapshot = match since {
        SinceLastRun::Files { changes, ids, through, root } if !begun.0 => {
            Snapshot::read_changed(ctx, &setup, changes, ids, through, root).await?
        }
        _ => Snapshot::read(ctx, &setup).await?,
    };
    let (count, bytes) = snapshot.copy_totals();
    if count <= ctx.settings.inline_copies && bytes <= INLINE_BYTES {
        let outcome = run_pass(ctx, &setup, snapshot, Copies::Inline, begun).await;
        lease.release().await;
        return outcome;
    }
    let copies = snapshot.into_copies();
    ctx.repo.plan_run(&request.sync_id, &setup.connection.id, &copies, begun, now_millis()).await?;
    tracing::info!(
        connection_id = %setup.connection.id, copies = copies.len(), bytes, "publish run fans its copies out"
    );
    // Dropped, not released: the run holds the lease until its finish.
    drop(lease);
    send_copies(ctx, request, &copies, trace).await?;
    Ok(PublishOutcome::FannedOut { copies: copies.len() })
}

/// The most changed files a run reads on their own; above it, it reads every file.
const CHANGED_FILES_PER_PASS: u32 = 1_000;

/// What changed since the connection's last run, found without reading its files.
enum SinceLastRun {
    /// Nothing: that run ended, nothing a publish depends on was written since, and the
    /// manifest it wrote is in the outbox and not yet past half its lifetime. Then only
    /// the grace-period removals run.
    Nothing(String),
    /// Only these files, nothing that concerns every file (`changes` is still what the
    /// last run saw): a pass over them patches the shards that hold them. With no files,
    /// the root is only signed again before it expires.
    Files { changes: i64, ids: Vec<String>, through: i64, root: Manifest },
    /// A pass over every file.
    Everything,
}

async fn since_last_run(ctx: &Context, setup: &Setup) -> Result<SinceLastRun, PublishError> {
    let connection = &setup.connection;
    let changes = ctx.repo.registry_changes().await?;
    let Some(marks) = ctx.repo.publish_marks(&connection.id).await? else {
        return Ok(SinceLastRun::Everything);
    };
    if marks.interrupted || marks.registry_seen != changes {
        return Ok(SinceLastRun::Everything);
    }
    // Read after the counter: a file marked meanwhile is read by this run or the next.
    let changed = ctx.repo.changed_files(&connection.id, CHANGED_FILES_PER_PASS).await?;
    let Some(ids) = changed.resource_ids else {
        return Ok(SinceLastRun::Everything);
    };
    let Some(root) = previous_root(ctx, setup).await else {
        return Ok(SinceLastRun::Everything);
    };
    let ttl = ctx.settings.manifest_ttl.as_millis() as i64;
    if ids.is_empty() && root.expires_at - now_millis() > ttl / 2 {
        remove_due_objects(ctx, &connection.id, &setup.outbox, now_millis()).await?;
        return Ok(SinceLastRun::Nothing(format!(
            "nothing changed since the last run: {} shard(s), manifest sequence {} unchanged",
            root.shard_count, root.sequence
        )));
    }
    Ok(SinceLastRun::Files { changes, ids, through: changed.through, root })
}

/// Sends again what a fanned-out run still waits for: its unsettled copies, or its finish.
async fn resume(
    ctx: &Context,
    request: &PublishRequest,
    state: &RunState,
    trace: &TraceContext,
) -> Result<PublishOutcome, PublishError> {
    if state.is_complete() {
        send(ctx, trace, &request.step(PublishStep::Finish)).await?;
        return Ok(PublishOutcome::FannedOut { copies: 0 });
    }
    let unsettled = ctx.repo.run_copies(&request.sync_id, true).await?;
    send_copies(ctx, request, &unsettled, trace).await?;
    Ok(PublishOutcome::FannedOut { copies: unsettled.len() })
}

/// One copy message per batch of copies (see `copy_batches`).
async fn send_copies(
    ctx: &Context,
    request: &PublishRequest,
    copies: &[PlannedCopy],
    trace: &TraceContext,
) -> Result<(), PublishError> {
    for resource_ids in copy_batches(copies.iter().map(|c| (c.resource_id.clone(), c.size))) {
        send(ctx, trace, &request.step(PublishStep::Copy { resource_ids })).await?;
    }
    Ok(())
}

pub(crate) async fn copy(
    ctx: &Context,
    request: &PublishRequest,
    resource_ids: &[String],
    trace: &TraceContext,
) -> Result<PublishOutcome, PublishError> {
    let planned: Vec<PlannedCopy> = ctx
        .repo
        .planned_copies(&request.sync_id, resource_ids)
        .await?
        .into_iter()
        .filter(|copy| copy.settled.is_none())
        .collect();
    if planned.is_empty() {
        let state = ctx.repo.run_progress(&request.sync_id).await?;
        ask_for_finish_when_complete(ctx, request, trace, state).await?;
        return Ok(PublishOutcome::Copied);
    }
    // Renewed while the copies run, so long ones keep the run's lease.
    let lease = ctx.take_lease_as(&request.lease_key(), &request.run_holder()).await?;
    let setup = Setup::load(ctx, &request.connection_id).await;
    // No database work while they run: the batch's settlements are one transaction after.
    let copies: Vec<_> = planned.iter().map(|copy| Box::pin(copy_planned(ctx, &setup, copy))).collect();
    let results: Vec<Result<CopySettlement, PublishError>> =
        stream::iter(copies).buffer_unordered(ctx.settings.copy_concurrency.max(1)).collect().await;
    let mut retry = None;
    let settlements: Vec<CopySettlement> =
        results.into_iter().filter_map(|result| result.map_err(|e| retry.get_or_insert(e)).ok()).collect();
    let due_at = now_millis() + ctx.settings.object_grace.as_millis() as i64;
    let state = ctx.repo.settle_copies(&request.sync_id, &settlements, due_at).await?;
    if lease.is_none() {
        // Another run holds the lease: the run these copies belong to lost it, and the
        // other one may not see their records. The next run rebuilds every shard.
        ctx.repo.mark_publish_dirty(&request.connection_id).await?;
    }
    if let Some(e) = retry {
        // Another delivery tries what is not settled; the rest stays settled.
        return Err(e);
    }
    ask_for_finish_when_complete(ctx, request, trace, state).await?;
    Ok(PublishOutcome::Copied)
}

/// Settles copies as failed without trying them again (their deliveries ran out), and asks
/// for the finish if they were the last.
pub(crate) async fn give_up_copy(
    ctx: &Context,
    request: &PublishRequest,
    resource_ids: &[String],
    why: &str,
    trace: &TraceContext,
) -> Result<(), PublishError> {
    let settlements: Vec<CopySettlement> =
        resource_ids.iter().map(|id| CopySettlement::Failed { resource_id: id.clone(), why: why.into() }).collect();
    let state = ctx.repo.settle_copies(&request.sync_id, &settlements, now_millis()).await?;
    ask_for_finish_when_complete(ctx, request, trace, state).await
}

/// Asked by every settled batch that finds the run complete (a redelivery too): the bus
/// keeps one finish message per run. `state` is the run's, as the caller last read it.
async fn ask_for_finish_when_complete(
    ctx: &Context,
    request: &PublishRequest,
    trace: &TraceContext,
    state: Option<RunState>,
) -> Result<(), PublishError> {
    if state.is_some_and(|s| s.is_complete()) {
        send(ctx, trace, &request.step(PublishStep::Finish)).await?;
    }
    Ok(())
}

/// Copies one planned revision and says how it went: done with the record to write, or
/// failed for good; `Err` only what is worth another delivery.
async fn copy_planned(
    ctx: &Context,
    setup: &Result<Result<Setup, PublishOutcome>, PublishError>,
    planned: &PlannedCopy,
) -> Result<CopySettlement, PublishError> {
    let failed = |why: String| Ok(CopySettlement::Failed { resource_id: planned.resource_id.clone(), why });
    let setup = match setup {
        Ok(Ok(setup)) => setup,
        Ok(Err(PublishOutcome::Failed { message, .. })) => return failed(message.clone()),
        Ok(Err(_)) => return failed("the connection is archived or no longer sending".into()),
        Err(PublishError::UnknownConnection(c)) => return failed(format!("connection '{c}' not found")),
        Err(PublishError::Misconfigured(message)) => return failed(message.clone()),
        Err(e) => return Err(PublishError::Unavailable(e.to_string())),
    };
    let entry: ManifestEntry = match serde_json::from_str(&planned.entry_json) {
        Ok(entry) => entry,
        Err(e) => return failed(format!("the planned entry is unreadable: {e}")),
    };
    if let Err(message) = setup.copy_revision(ctx, &entry, &planned.blob_key).await {
        return failed(message);
    }
    let record = published_record(&setup.connection.id, &entry, planned.shard, planned.entry_json.clone());
    Ok(CopySettlement::Done { record, replaces: planned.replaces.clone() })
}

pub(crate) async fn finish(ctx: &Context, request: &PublishRequest) -> Result<PublishOutcome, PublishError> {
    let Some(state) = ctx.repo.run_progress(&request.sync_id).await? else {
        return Ok(PublishOutcome::Skipped("the run is finished already"));
    };
    if !state.is_complete() {
        return Err(PublishError::Busy(request.connection_id.clone()));
    }
    let Some(lease) = ctx.take_lease_as(&request.lease_key(), &request.run_holder()).await? else {
        return Err(PublishError::Busy(request.connection_id.clone()));
    };
    let outcome = finish_holding_lease(ctx, request, &state).await;
    lease.release().await;
    outcome
}

async fn finish_holding_lease(
    ctx: &Context,
    request: &PublishRequest,
    state: &RunState,
) -> Result<PublishOutcome, PublishError> {
    let setup = match Setup::load(ctx, &request.connection_id).await? {
        Ok(setup) => setup,
        Err(outcome) => return Ok(outcome),
    };
    // Made small before the snapshot is read: the planned copies whole are held only
    // while nothing else is.
    let settled = ctx.repo.run_copies(&request.sync_id, false).await?;
    let settled = settled.into_iter().filter_map(SettledCopy::of).collect();
    let snapshot = Snapshot::read(ctx, &setup).await?;
    run_pass(ctx, &setup, snapshot, Copies::Settled(settled), (state.rebuild_all, state.version)).await
}

async fn send(ctx: &Context, trace: &TraceContext, message: &PublishRequest) -> Result<(), PublishError> {
    publish_json(ctx.bus.as_ref(), Topic::Publish, &message.message_id(), trace, message)
        .await
        .map_err(|e| PublishError::Unavailable(e.to_string()))
}
