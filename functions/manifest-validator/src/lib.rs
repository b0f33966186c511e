//! manifest-validator: reads a receiving connection's signed manifest from its inbox,
//! verifies it (MAC before anything else, then shared ID, expiry, sequence, size, shard
//! list), checks it against the local policy (max level, tag coverage), fetches only the
//! shards whose digest changed since the last applied (each checked against the digest the
//! manifest gives it), and emits one ingest message per new, changed or removed resource
//! in them. A refusal ingests nothing from the manifest.
//! Besides polls from the scheduler, an object-created event for a manifest starts a sync
//! at once (`on_object_created`).

mod lambda_entry;
mod object_events;
mod validate;

use airlock_bus::Topic;
use airlock_domain::pipeline::{IngestBatch, IngestRequest, PollRequest, StatusEvent};
use airlock_domain::ConnectionKind;
use airlock_runtime::{publish_json, Context, Handler, HandlerError, MessageMeta};
use async_trait::async_trait;
use std::sync::Arc;

pub use lambda_entry::on_lambda_event;
pub use object_events::{
    consume_object_events, manifest_shared_id, object_created_records, on_object_created, queue_endpoint, ObjectCreated,
};
pub use validate::{validate, AppliedShards, ValidateError, Validation};

pub struct ManifestValidator {
    ctx: Arc<Context>,
}

impl ManifestValidator {
    pub fn new(ctx: Arc<Context>) -> Self {
        Self { ctx }
    }

    async fn finish(&self, request: &PollRequest, meta: &MessageMeta, failed: bool, message: String, pending: u32) {
        let sync = (request.sync_id.as_str(), request.connection_id.as_str(), ConnectionKind::Receiving);
        let event = StatusEvent::StageFinished { failed, message, pending, resources: Vec::new() };
        self.ctx.send_status(&meta.trace, sync, event, "validate").await;
    }
}

#[async_trait]
impl Handler for ManifestValidator {
    type Message = PollRequest;
    const NAME: &'static str = "manifest-validator";
    const TOPIC: Topic = Topic::Poll;

    async fn handle(&self, request: &PollRequest, meta: &MessageMeta) -> Result<(), HandlerError> {
        match validate(&self.ctx, request).await {
            Ok(Validation::Skipped(why)) => {
                tracing::info!(connection_id = %request.connection_id, why, "poll skipped");
            }
            Ok(Validation::Refused(message)) => {
                tracing::warn!(connection_id = %request.connection_id, %message, "manifest refused");
                self.finish(request, meta, true, message, 0).await;
            }
            Ok(Validation::Accepted { message, ingests, shards }) => {
                // Applied only when the sync finishes with every file of them arrived: a
                // file that fails, or a validation that stops here, leaves them to be
                // fetched again by the next one.
                shards.record_pending(&self.ctx, &request.sync_id).await.map_err(HandlerError::retryable)?;
                if !ingests.is_empty() {
                    let bytes = ingests.iter().map(IngestRequest::bytes).sum();
                    let (files, now) = (ingests.len() as u64, airlock_domain::now_millis());
                    let progress = self.ctx.repo.start_receive_progress(&request.sync_id, files, bytes, now).await;
                    progress.map_err(HandlerError::retryable)?;
                }
                let pending = ingests.len() as u32;
                for batch in IngestBatch::split(ingests) {
                    publish_json(self.ctx.bus.as_ref(), Topic::Ingest, &batch.message_id(), &meta.trace, &batch)
                        .await
                        .map_err(HandlerError::retryable)?;
                }
                self.finish(request, meta, false, message, pending).await;
            }
            Err(e) => return Err(e),
        }
        Ok(())
    }

    async fn give_up(&self, request: &PollRequest, meta: &MessageMeta, error: &HandlerError) {
        self.finish(request, meta, true, format!("connection failed (no manifest received): {error}"), 0).await;
    }
}
