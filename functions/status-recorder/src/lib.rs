//! status-recorder: folds every stage's status reports into sync events with
//! per-resource rows, and sets each connection's health when its sync finishes.

use airlock_bus::Topic;
use airlock_domain::now_millis;
use airlock_domain::pipeline::StatusEvent;
use airlock_domain::pipeline::StatusReport;
use airlock_repo::{RepoError, SyncEvent, SyncState};
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
        match self.ctx.repo.record_status(report, now_millis()).await {
            Ok(event) => Ok(event),
            // What is stored can't take this report, however often it is tried.
            Err(e @ (RepoError::Corrupt(_) | RepoError::OutOfRange { .. })) => Err(HandlerError::permanent(e)),
            // The database away: tried again, for as long as `max_attempts` allows.
            Err(e) => Err(HandlerError::retryable(e)),
        }
    }
}

#[async_trait]
impl Handler for StatusRecorder {
    type Message = StatusReport;
    const NAME: &'static str = "status-recorder";
    const TOPIC: Topic = Topic::Status;

    /// A report is history: it is retried far longer than other work, so an outage of the
    /// database drops nothing.
    fn max_attempts(&self, _configured: u32) -> u32 {
        self.ctx.settings.status_max_attempts
    }

    /// A report that can never apply is recorded on its event as the reason it failed.
    async fn give_up(&self, report: &StatusReport, meta: &MessageMeta, error: &HandlerError) {
        let message = format!("a status report could not be recorded after {} attempt(s): {error}", meta.attempt);
        let failed = StatusReport {
            event: StatusEvent::StageFinished { failed: true, message, pending: 0, resources: Vec::new() },
            ..report.clone()
        };
        if let Err(e) = self.ctx.repo.record_status(&failed, now_millis()).await {
            tracing::error!(sync_id = %report.sync_id, error = %e, "status report dropped, and its failure too");
        }
    }

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
