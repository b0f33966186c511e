//! The scheduler as a Lambda: each EventBridge scheduled event is one tick.

use crate::{slot_of, tick, TickError, TickSummary};
use airlock_runtime::lambda::aws_lambda_events::event::eventbridge::EventBridgeEvent;
use airlock_runtime::Context;
use serde_json::Value;

/// One tick for a scheduled event. The slot comes from the event's own time, so a retried
/// invocation of one event lands in the same slot and starts no second sync.
pub async fn on_scheduled_event(ctx: &Context, event: &EventBridgeEvent<Value>) -> Result<TickSummary, TickError> {
    let at = event.time.map(|time| time.timestamp_millis()).unwrap_or_else(airlock_domain::now_millis);
    tracing::info!(source = %event.source, detail_type = %event.detail_type, "scheduled event");
    tick(ctx, Some(slot_of(ctx, at))).await
}
