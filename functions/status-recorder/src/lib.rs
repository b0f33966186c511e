//! status-recorder: folds every stage's status reports into sync events with
//! per-resource rows, and sets each connection's health when its sync finishes.

use airlock_bus::Topic;
use airlock_domain::pipeline::StatusReport;
use airlock_repo::{SyncEvent, SyncState};
use airlock_runtime::{Context, Handler, HandlerError, MessageMeta};
use async_trait::async_trait;
use std::sync::Arc;

pub struct StatusRecorder {
    ctx: Arc<Context>,
}

impl StatusRecorder {
    pub fn new(ctx: Arc<Context>) -> Self {
        Self { ctx }
    }

    pub async fn record(&self, report: &StatusReport) -> Result<SyncEvent, HandlerError> {
        self.ctx.repo.record_status(report).await.map_err(HandlerError::retryable)
    }
}

#[async_trait]
impl Handler for StatusRecorder {
    type Message = StatusReport;
    const NAME: &'static str = "status-recorder";
    const TOPIC: Topic = Topic::Status;

    async fn handle(&self, report: &StatusReport, _meta: &MessageMeta) -> Result<(), HandlerError> {
        let event = self.record(report).await?;
        if let SyncState::Finished(health) = event.state {
            tracing::info!(
                sync_id = %event.sync_id,
                connection_id = %event.connection_id,
                health = health.as_str(),
                updated = event.updated,
                message = %event.message,
                "sync finished"
            );
        }
        Ok(())
    }
}
