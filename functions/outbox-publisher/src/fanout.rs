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
    record_copy, remove_due_objects, run_pass, Copies, PublishError, PublishOutcome, Setup, Snapshot,
};
use airlock_bus::Topic;
use airlock_domain::pipeline::{copy_batches, PublishRequest, PublishStep};
use airlock_domain::{now_millis, ManifestEntry};
use airlock_repo::{PlannedCopy, PublishedEntry, RunState};
use airlock_runtime::{publish_json, Context, TraceContext};
use futures::stream::{self, StreamExt, TryStreamExt};

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
    if let Some(summary) = nothing_changed(ctx, &setup).await? {
        lease.release().await;
        return Ok(PublishOutcome::Published { summary, rows: Vec::new() });
    }
    // A run that stopped short may have changed records its manifest never showed: this
    // one then rebuilds every shard instead of only those it changes.
    let begun = ctx.repo.begin_publish(&setup.connection.id).await?;
    let snapshot = Snapshot::read(ctx, &setup).await?;
    let copies = snapshot.copies();
    let bytes: u64 = copies.iter().map(|c| c.size).sum();
    if copies.len() <= ctx.settings.inline_copies && bytes <= INLINE_BYTES {
        let outcome = run_pass(ctx, &setup, snapshot, Copies::Inline, begun).await;
        lease.release().await;
        return outcome;
    }
    ctx.repo.plan_run(&request.sync_id, &setup.connection.id, &copies, begun, now_millis()).await?;
    tracing::info!(
        connection_id = %setup.connection.id, copies = copies.len(), bytes, "publish run fans its copies out"
    );
    // Dropped, not released: the run holds the lease until its finish.
    drop(lease);
    send_copies(ctx, request, &copies, trace).await?;
    Ok(PublishOutcome::FannedOut { copies: copies.len() })
}

/// Whether the run has nothing to do, found without reading the files: nothing a publish
/// depends on was written since the last run, that run ended, and the manifest it wrote is
/// in the outbox and not yet past half its lifetime. Then only the grace-period removals run.
async fn nothing_changed(ctx: &Context, setup: &Setup) -> Result<Option<String>, PublishError> {
    let connection = &setup.connection;
    let changes = ctx.repo.registry_changes().await?;
    let Some(marks) = ctx.repo.publish_marks(&connection.id).await? else {
        return Ok(None);
    };
    if marks.interrupted || marks.registry_seen != changes {
        return Ok(None);
    }
    let Some(root) = previous_root(ctx, setup).await else {
        return Ok(None);
    };
    let ttl = ctx.settings.manifest_ttl.as_millis() as i64;
    if root.expires_at - now_millis() <= ttl / 2 {
        return Ok(None);
    }
    remove_due_objects(ctx, &connection.id, &setup.outbox, now_millis()).await?;
    Ok(Some(format!(
        "nothing changed since the last run: {} shard(s), manifest sequence {} unchanged",
        root.shard_count, root.sequence
    )))
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
    let mut planned = Vec::with_capacity(resource_ids.len());
    for id in resource_ids {
        if let Some(copy) = ctx.repo.planned_copy(&request.sync_id, id).await? {
            planned.extend((copy.settled.is_none()).then_some(copy));
        }
    }
    if !planned.is_empty() {
        // Renewed while the copies run, so long ones keep the run's lease.
        let lease = ctx.take_lease_as(&request.lease_key(), &request.run_holder()).await?;
        let setup = Setup::load(ctx, &request.connection_id).await;
        // Each copy settles itself: nothing is awaited between polls of the stream, which
        // would leave the copies in flight holding database connections unpolled.
        let copies: Vec<_> = planned
            .iter()
            .map(|copy| {
                Box::pin(async {
                    let failure = copy_planned(ctx, &setup, copy).await?;
                    ctx.repo.settle_copy(&request.sync_id, &copy.resource_id, failure.as_deref()).await?;
                    Ok::<(), PublishError>(())
                })
            })
            .collect();
        stream::iter(copies).buffer_unordered(ctx.settings.copy_concurrency.max(1)).try_collect::<()>().await?;
        if lease.is_none() {
            // Another run holds the lease: the run these copies belong to lost it, and the
            // other one may not see their records. The next run rebuilds every shard.
            ctx.repo.mark_publish_dirty(&request.connection_id).await?;
        }
    }
    ask_for_finish_when_complete(ctx, request, trace).await?;
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
    for resource_id in resource_ids {
        ctx.repo.settle_copy(&request.sync_id, resource_id, Some(why)).await?;
    }
    ask_for_finish_when_complete(ctx, request, trace).await
}

async fn ask_for_finish_when_complete(
    ctx: &Context,
    request: &PublishRequest,
    trace: &TraceContext,
) -> Result<(), PublishError> {
    // Asked by every settled copy that finds the run complete (a redelivery too): the bus
    // keeps one finish message per run.
    if ctx.repo.run_progress(&request.sync_id).await?.is_some_and(|s| s.is_complete()) {
        send(ctx, trace, &request.step(PublishStep::Finish)).await?;
    }
    Ok(())
}

/// Copies one planned revision and records it. `Ok(Some(why))` is a copy that failed for
/// good; `Err` only what is worth another delivery.
async fn copy_planned(
    ctx: &Context,
    setup: &Result<Result<Setup, PublishOutcome>, PublishError>,
    planned: &PlannedCopy,
) -> Result<Option<String>, PublishError> {
    let setup = match setup {
        Ok(Ok(setup)) => setup,
        Ok(Err(PublishOutcome::Failed { message, .. })) => return Ok(Some(message.clone())),
        Ok(Err(_)) => return Ok(Some("the connection is archived or no longer sending".into())),
        Err(PublishError::UnknownConnection(c)) => return Ok(Some(format!("connection '{c}' not found"))),
        Err(PublishError::Misconfigured(message)) => return Ok(Some(message.clone())),
        Err(e) => return Err(PublishError::Unavailable(e.to_string())),
    };
    let entry: ManifestEntry = match serde_json::from_str(&planned.entry_json) {
        Ok(entry) => entry,
        Err(e) => return Ok(Some(format!("the planned entry is unreadable: {e}"))),
    };
    if let Err(message) = setup.copy_revision(ctx, &entry, &planned.blob_key).await {
        return Ok(Some(message));
    }
    let record = PublishedEntry {
        connection_id: setup.connection.id.clone(),
        resource_id: planned.resource_id.clone(),
        revision_id: entry.revision_id.clone(),
        shard: planned.shard,
        object_key: entry.object_key.clone(),
        entry_json: planned.entry_json.clone(),
    };
    record_copy(ctx, &setup.connection.id, planned.replaces.as_deref(), &record).await?;
    Ok(None)
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
    let settled = ctx.repo.run_copies(&request.sync_id, false).await?;
    let settled = settled.into_iter().map(|c| (c.resource_id.clone(), c)).collect();
    let snapshot = Snapshot::read(ctx, &setup).await?;
    run_pass(ctx, &setup, snapshot, Copies::Settled(settled), (state.rebuild_all, state.version)).await
}

async fn send(ctx: &Context, trace: &TraceContext, message: &PublishRequest) -> Result<(), PublishError> {
    publish_json(ctx.bus.as_ref(), Topic::Publish, &message.message_id(), trace, message)
        .await
        .map_err(|e| PublishError::Unavailable(e.to_string()))
}
