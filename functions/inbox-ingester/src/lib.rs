//! inbox-ingester: applies the changes of a verified manifest, a batch per message. An upsert streams the
//! encrypted object from the inbox, decrypts and verifies it into the local registry,
//! maps its level, applies the receiving transforms, and makes it visible to the
//! connection's owners (within their clearance). A removal withdraws the local copy.

mod ingest;

use airlock_bus::Topic;
use airlock_domain::pipeline::{IngestBatch, ResourceOutcome, ResourceRow, StatusEvent};
use airlock_domain::ConnectionKind;
use airlock_runtime::{Context, Handler, HandlerError, MessageMeta};
use async_trait::async_trait;
use std::sync::Arc;

pub use ingest::{failed_rows, ingest, ingest_batch, IngestError, Ingested, Receiving};

/// Downloads of one batch made at once; the batch's writes are one transaction.
const BATCH_CONCURRENCY: usize = 8;

pub struct InboxIngester {
    ctx: Arc<Context>,
}

impl InboxIngester {
    pub fn new(ctx: Arc<Context>) -> Self {
        Self { ctx }
    }

    async fn report(&self, batch: &IngestBatch, meta: &MessageMeta, rows: Vec<ResourceRow>) {
        let Some(first) = batch.requests.first() else { return };
        let sync = (first.sync_id.as_str(), first.connection_id.as_str(), ConnectionKind::Receiving);
        self.ctx.send_status(&meta.trace, sync, StatusEvent::Rows { rows }, &batch.status_key()).await;
    }
}

#[async_trait]
impl Handler for InboxIngester {
    type Message = IngestBatch;
    const NAME: &'static str = "inbox-ingester";
    const TOPIC: Topic = Topic::Ingest;

    /// Applies every change of the batch and reports their rows in one status message. A
    /// change worth retrying retries the batch: the changes applied already are found
    /// applied and reported the same way.
    async fn handle(&self, batch: &IngestBatch, meta: &MessageMeta) -> Result<(), HandlerError> {
        let Some(first) = batch.requests.first() else { return Ok(()) };
        let ctx = self.ctx.as_ref();
        let receiving = Receiving::load(ctx, &first.connection_id).await?;
        let Ingested { rows, stored_bytes: stored } =
            ingest_batch(ctx, receiving.as_ref(), &batch.requests, BATCH_CONCURRENCY).await?;
        for row in rows.iter().filter(|r| r.outcome == ResourceOutcome::Failed) {
            tracing::warn!(resource_id = %row.resource_id, message = %row.message, "ingest failed");
        }
        if stored > 0 {
            // For the progress shown while the sync runs; a batch retried after storing
            // some of its files counts them only if it stores them again.
            if let Err(e) = self.ctx.repo.add_received_bytes(&first.sync_id, stored).await {
                tracing::warn!(sync_id = %first.sync_id, error = %e, "could not count the bytes received");
            }
        }
        self.report(batch, meta, rows).await;
        Ok(())
    }

    async fn give_up(&self, batch: &IngestBatch, meta: &MessageMeta, error: &HandlerError) {
        let rows = failed_rows(&batch.requests, &format!("gave up after {} attempt(s): {error}", meta.attempt));
        self.report(batch, meta, rows).await;
    }
}
