//! scheduler: on each tick, one message per active connection — `publish` for sending,
//! `poll` for receiving — each starting a sync with its own id and trace.

mod scheduled_event;

use airlock_bus::Topic;
use airlock_domain::pipeline::{PollRequest, PublishRequest};
use airlock_domain::{new_id, Connection, ConnectionKind, Millis};
use airlock_runtime::{publish_json, Context, TraceContext};
use tracing::Instrument;

pub use scheduled_event::on_scheduled_event;

#[derive(Debug, thiserror::Error)]
pub enum TickError {
    #[error("listing connections failed: {0}")]
    Repo(#[from] airlock_repo::RepoError),
    #[error("publishing a tick failed: {0}")]
    Bus(#[from] airlock_bus::BusError),
}

/// What one tick started.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct TickSummary {
    /// (connection id, sync id) per message published.
    pub publish: Vec<(String, String)>,
    pub poll: Vec<(String, String)>,
}

/// The time slot of a scheduled tick: one sync per connection per slot.
pub fn slot_of(ctx: &Context, now: Millis) -> i64 {
    now / (ctx.settings.schedule_interval.as_millis().max(1) as Millis)
}

/// Emits one message per active connection. With a slot (scheduled ticks), the message id
/// names the connection and the slot, so two schedulers (or a retried tick) in one slot
/// start one sync; without one (a sync asked for now), every call starts a sync.
pub async fn tick(ctx: &Context, slot: Option<i64>) -> Result<TickSummary, TickError> {
    let mut summary = TickSummary::default();
    for connection in ctx.repo.connections(false).await? {
        let sync_id = emit(ctx, &connection, slot).await?;
        match connection.kind {
            ConnectionKind::Sending => summary.publish.push((connection.id, sync_id)),
            ConnectionKind::Receiving => summary.poll.push((connection.id, sync_id)),
        }
    }
    tracing::info!(publish = summary.publish.len(), poll = summary.poll.len(), "tick");
    // The tick's messages are out; a sweep that fails now is tried again next tick.
    if let Err(e) = sweep_stuck_syncs(ctx).await {
        tracing::warn!(error = %e, "sweeping syncs past their deadline failed");
    }
    if slot.is_some_and(|slot| slot % upload_sweep_every(ctx) == 0) {
        sweep_interrupted_uploads(ctx).await;
    }
    Ok(summary)
}

/// Scheduled ticks between two sweeps of interrupted uploads: about four per
/// `staging_max_age`, so a leftover goes at most a quarter of the age after it became
/// old, without listing the stores on every tick.
pub fn upload_sweep_every(ctx: &Context) -> i64 {
    let interval = ctx.settings.schedule_interval.as_millis().max(1);
    ((ctx.settings.staging_max_age.as_millis() / 4) / interval).max(1) as i64
}

/// Removes what writers killed mid-upload left in the configured stores (staging files of
/// directory stores, incomplete S3 multipart uploads) older than `staging_max_age`; a
/// store that fails is logged and tried again at the next sweep. Returns how many went.
pub async fn sweep_interrupted_uploads(ctx: &Context) -> usize {
    let mut removed = 0;
    for report in ctx.stores.sweep_interrupted_uploads(ctx.settings.staging_max_age).await {
        match report.result {
            Ok(0) => {}
            Ok(n) => {
                tracing::info!(store = %report.label, removed = n, "interrupted uploads swept");
                removed += n;
            }
            Err(e) => tracing::warn!(store = %report.label, error = %e, "sweeping interrupted uploads failed"),
        }
    }
    removed
}

/// Finishes as failed every sync event still running past the deadline, naming what never
/// reported; returns how many. A sync never stays 'running' forever.
pub async fn sweep_stuck_syncs(ctx: &Context) -> Result<usize, airlock_repo::RepoError> {
    let now = airlock_domain::now_millis();
    let deadline = ctx.settings.sync_deadline;
    let expired = ctx.repo.expire_sync_events(now - deadline.as_millis() as Millis, now, deadline.as_secs()).await?;
    for event in &expired {
        tracing::warn!(sync_id = %event.sync_id, connection_id = %event.connection_id, message = %event.message, "sync failed: past its deadline");
    }
    Ok(expired.len())
}

/// Starts a sync of one connection now (the api's "sync now"), whatever the schedule; the
/// caller checks that the connection is active. Returns the new sync's id.
pub async fn start_sync(ctx: &Context, connection: &Connection) -> Result<String, TickError> {
    let sync_id = emit(ctx, connection, None).await?;
    tracing::info!(connection_id = %connection.id, sync_id = %sync_id, "sync started on request");
    Ok(sync_id)
}

/// Publishes the message that starts one sync of a connection and returns its sync id.
async fn emit(ctx: &Context, connection: &Connection, slot: Option<i64>) -> Result<String, TickError> {
    let sync_id = new_id();
    // One sync is one trace: a root span (no parent, whatever is current), which every
    // later stage continues through the messages' `traceparent`.
    let span = tracing::info_span!(
        parent: None,
        "sync",
        otel.kind = "producer",
        sync_id = %sync_id,
        connection_id = %connection.id,
        kind = ?connection.kind,
    );
    let trace = TraceContext::of_span(&span).unwrap_or_else(TraceContext::new_root);
    let dedupe = match slot {
        Some(slot) => format!("tick:{}:{slot}", connection.id),
        None => format!("sync:{sync_id}"),
    };
    let published = async {
        match connection.kind {
            ConnectionKind::Sending => {
                let message = PublishRequest::plan(&sync_id, &connection.id);
                publish_json(ctx.bus.as_ref(), Topic::Publish, &dedupe, &trace, &message).await
            }
            ConnectionKind::Receiving => {
                let message = PollRequest { sync_id: sync_id.clone(), connection_id: connection.id.clone() };
                publish_json(ctx.bus.as_ref(), Topic::Poll, &dedupe, &trace, &message).await
            }
        }
    };
    published.instrument(span).await?;
    Ok(sync_id)
}

/// Ticks every `schedule_interval` until the task is dropped; a failed tick is logged and
/// the next one tried.
pub async fn run(ctx: &Context) {
    let mut interval = tokio::time::interval(ctx.settings.schedule_interval);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        interval.tick().await;
        let slot = slot_of(ctx, airlock_domain::now_millis());
        if let Err(e) = tick(ctx, Some(slot)).await {
            tracing::error!(error = %e, "tick failed");
        }
    }
}
