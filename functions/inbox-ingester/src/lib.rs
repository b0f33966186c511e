//! inbox-ingester: applies one change from a verified manifest. An upsert streams the
//! encrypted object from the inbox, decrypts and verifies it into the local registry,
//! maps its level, applies the receiving transforms, and makes it visible to the
//! connection's owners (within their clearance). A removal withdraws the local copy.

mod ingest;

use airlock_bus::Topic;
use airlock_domain::pipeline::{Change, IngestRequest, ResourceOutcome, ResourceRow, StatusEvent};
use airlock_domain::ConnectionKind;
use airlock_runtime::{Context, Handler, HandlerError, MessageMeta};
use async_trait::async_trait;
use std::sync::Arc;

pub use ingest::{ingest, IngestError};

pub struct InboxIngester {
    ctx: Arc<Context>,
}

impl InboxIngester {
    pub fn new(ctx: Arc<Context>) -> Self {
        Self { ctx }
    }

    async fn report(&self, request: &IngestRequest, meta: &MessageMeta, row: ResourceRow) {
        let sync = (request.sync_id.as_str(), request.connection_id.as_str(), ConnectionKind::Receiving);
        self.ctx.send_status(&meta.trace, sync, StatusEvent::Resource { row }, &request.status_key()).await;
    }
}

#[async_trait]
impl Handler for InboxIngester {
    type Message = IngestRequest;
    const NAME: &'static str = "inbox-ingester";
    const TOPIC: Topic = Topic::Ingest;

    async fn handle(&self, request: &IngestRequest, meta: &MessageMeta) -> Result<(), HandlerError> {
        match ingest(&self.ctx, request).await {
            Ok(row) => {
                if row.outcome == ResourceOutcome::Failed {
                    tracing::warn!(resource_id = %row.resource_id, message = %row.message, "ingest failed");
                }
                self.report(request, meta, row).await;
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    async fn give_up(&self, request: &IngestRequest, meta: &MessageMeta, error: &HandlerError) {
        let row = ResourceRow {
            resource_id: request.change.resource_id().into(),
            name: match &request.change {
                Change::Upsert { entry } => entry.name.clone(),
                Change::Remove { .. } => String::new(),
            },
            outcome: ResourceOutcome::Failed,
            message: format!("gave up after {} attempt(s): {error}", meta.attempt),
        };
        self.report(request, meta, row).await;
    }
}
