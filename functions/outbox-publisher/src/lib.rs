//! outbox-publisher: publishes what is shared with a sending connection into its outbox.
//! Ineligible shares are removed from the connection with their reason; each new revision
//! is streamed, encrypted, into the outbox (by the run itself, or fanned out one message
//! per revision over every worker when there are many); unchanged revisions are not copied
//! again; the signed manifest is written last, so a receiver never sees an entry whose
//! object is not there yet.

mod fanout;
mod manifests;
mod publish;

use airlock_bus::Topic;
use airlock_domain::pipeline::{PublishRequest, PublishStep, ResourceRow, StatusEvent};
use airlock_domain::{now_millis, ConnectionKind};
use airlock_runtime::{Context, Handler, HandlerError, MessageMeta};
use async_trait::async_trait;
use std::sync::Arc;

pub use publish::{publish, publish_step, PublishError, PublishOutcome};

pub struct OutboxPublisher {
    ctx: Arc<Context>,
}

impl OutboxPublisher {
    pub fn new(ctx: Arc<Context>) -> Self {
        Self { ctx }
    }

    async fn finish(
        &self,
        request: &PublishRequest,
        meta: &MessageMeta,
        failed: bool,
        message: String,
        resources: Vec<ResourceRow>,
    ) {
        let sync = (request.sync_id.as_str(), request.connection_id.as_str(), ConnectionKind::Sending);
        self.ctx.send_stage_end(&meta.trace, sync, (failed, message, 0), resources, "publish").await;
    }
}

#[async_trait]
impl Handler for OutboxPublisher {
    type Message = PublishRequest;
    const NAME: &'static str = "outbox-publisher";
    const TOPIC: Topic = Topic::Publish;

    async fn handle(&self, request: &PublishRequest, meta: &MessageMeta) -> Result<(), HandlerError> {
        let claim = request.done_key();
        if self.ctx.repo.is_processed(&claim).await.map_err(HandlerError::retryable)? {
            tracing::info!(sync_id = %request.sync_id, step = ?request.step, "publish step already done; redelivery ignored");
            return Ok(());
        }
        if request.step.is_plan() {
            // The event's start: a long publish shows as running from here, not from its end.
            let sync = (request.sync_id.as_str(), request.connection_id.as_str(), ConnectionKind::Sending);
            self.ctx.send_status(&meta.trace, sync, StatusEvent::StageStarted, "publish:started").await;
        }
        let outcome = publish_step(&self.ctx, request, &meta.trace).await;
        // A plan that fanned out and a finish held every file of a large run a moment ago.
        let held_every_file =
            matches!(outcome, Ok(PublishOutcome::FannedOut { .. })) || request.step == PublishStep::Finish;
        match outcome {
            Ok(PublishOutcome::Skipped(why)) => {
                tracing::info!(connection_id = %request.connection_id, step = ?request.step, why, "publish skipped");
            }
            Ok(PublishOutcome::Published { summary, rows }) => self.finish(request, meta, false, summary, rows).await,
            Ok(PublishOutcome::Failed { message, rows }) => self.finish(request, meta, true, message, rows).await,
            Ok(PublishOutcome::FannedOut { copies }) => {
                tracing::info!(connection_id = %request.connection_id, copies, "publish copies sent to the workers");
            }
            Ok(PublishOutcome::Copied) => {}
            Err(e) => match HandlerError::from(e) {
                HandlerError::Permanent(message) => self.finish(request, meta, true, message, Vec::new()).await,
                retry => return Err(retry),
            },
        }
        if held_every_file {
            airlock_runtime::release_free_memory();
        }
        if request.step == PublishStep::Finish {
            // Its report is out: the run's copies are no longer needed.
            self.ctx.repo.forget_run(&request.sync_id).await.map_err(HandlerError::retryable)?;
        }
        self.ctx.repo.mark_processed(&claim, now_millis()).await.map_err(HandlerError::retryable)?;
        Ok(())
    }

    async fn give_up(&self, request: &PublishRequest, meta: &MessageMeta, error: &HandlerError) {
        if let PublishStep::Copy { resource_ids } = &request.step {
            let why = format!("copy failed: {error}");
            if let Err(e) = fanout::give_up_copy(&self.ctx, request, resource_ids, &why, &meta.trace).await {
                tracing::error!(sync_id = %request.sync_id, error = %e, "could not settle copies given up on");
            }
            return;
        }
        self.finish(request, meta, true, format!("connection failed (no manifest produced): {error}"), Vec::new())
            .await;
    }
}
