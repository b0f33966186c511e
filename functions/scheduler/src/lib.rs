//! scheduler: on each tick, one message per active connection — `publish` for sending,
//! `poll` for receiving — each starting a sync with its own id and trace.

use airlock_bus::Topic;
use airlock_domain::pipeline::{PollRequest, PublishRequest};
use airlock_domain::{new_id, ConnectionKind, Millis};
use airlock_runtime::{publish_json, Context, TraceContext};

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
        let sync_id = new_id();
        let trace = TraceContext::new_root();
        let dedupe = match slot {
            Some(slot) => format!("tick:{}:{slot}", connection.id),
            None => format!("sync:{sync_id}"),
        };
        match connection.kind {
            ConnectionKind::Sending => {
                let message = PublishRequest { sync_id: sync_id.clone(), connection_id: connection.id.clone() };
                publish_json(ctx.bus.as_ref(), Topic::Publish, &dedupe, &trace, &message).await?;
                summary.publish.push((connection.id, sync_id));
            }
            ConnectionKind::Receiving => {
                let message = PollRequest { sync_id: sync_id.clone(), connection_id: connection.id.clone() };
                publish_json(ctx.bus.as_ref(), Topic::Poll, &dedupe, &trace, &message).await?;
                summary.poll.push((connection.id, sync_id));
            }
        }
    }
    tracing::info!(publish = summary.publish.len(), poll = summary.poll.len(), "tick");
    Ok(summary)
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
