use crate::context::Context;
use crate::trace::{TraceContext, TRACEPARENT};
use airlock_bus::{BusError, Delivery, MessageBus, OutgoingMessage, Topic};
use airlock_domain::pipeline::{StatusEvent, StatusReport};
use airlock_domain::ConnectionKind;
use async_trait::async_trait;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::sync::Arc;
use std::time::Duration;
use tracing::Instrument;

/// Where a message came from and how often it was tried.
#[derive(Clone, Debug)]
pub struct MessageMeta {
    pub id: String,
    pub attempt: u32,
    pub max_attempts: u32,
    pub trace: TraceContext,
}

impl MessageMeta {
    pub fn is_last_attempt(&self) -> bool {
        self.attempt >= self.max_attempts
    }
}

/// How a handler failed: a retryable failure (a store or database briefly away) is
/// delivered again; a permanent one (bad input) is not.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum HandlerError {
    #[error("{0}")]
    Retryable(String),
    #[error("{0}")]
    Permanent(String),
}

impl HandlerError {
    pub fn retryable(e: impl std::fmt::Display) -> Self {
        Self::Retryable(e.to_string())
    }

    pub fn permanent(e: impl std::fmt::Display) -> Self {
        Self::Permanent(e.to_string())
    }
}

/// One function's library handler. The same handler runs under the consumer loop
/// (container), a Lambda entry, or directly in tests.
#[async_trait]
pub trait Handler: Send + Sync + 'static {
    type Message: DeserializeOwned + Send + Sync;
    const NAME: &'static str;
    const TOPIC: Topic;

    async fn handle(&self, message: &Self::Message, meta: &MessageMeta) -> Result<(), HandlerError>;

    /// Called once when a message is dropped for good (a permanent failure, or the last
    /// attempt of a retryable one), so that the failure reaches the sync history.
    async fn give_up(&self, _message: &Self::Message, _meta: &MessageMeta, _error: &HandlerError) {}
}

pub async fn publish_json<T: Serialize>(
    bus: &dyn MessageBus,
    topic: Topic,
    id: &str,
    trace: &TraceContext,
    message: &T,
) -> Result<(), BusError> {
    let payload = serde_json::to_vec(message).expect("pipeline messages serialize");
    let mut outgoing = OutgoingMessage::new(id, payload);
    outgoing.headers.extend(crate::trace::outgoing_headers(trace));
    bus.publish(topic, outgoing).await
}

// Status reports are messages like any other, so they live beside `publish_json` rather
// than in `context`, which stays below tracing and the bus messages in the layering.
impl Context {
    /// Sends one status report of a sync to the status-recorder. `dedupe_key` names what is
    /// reported (a stage, a resource), so a retried report of the same thing is a duplicate
    /// the bus drops. A report that cannot be sent is logged: the sync then shows as running,
    /// which is what an operator should see when the recorder is unreachable.
    pub async fn send_status(
        &self,
        trace: &TraceContext,
        sync: (&str, &str, ConnectionKind),
        event: StatusEvent,
        dedupe_key: &str,
    ) {
        let (sync_id, connection_id, kind) = sync;
        let report = StatusReport {
            sync_id: sync_id.into(),
            connection_id: connection_id.into(),
            kind,
            at: airlock_domain::now_millis(),
            event,
        };
        if let Err(e) = self.report(trace, &report, dedupe_key).await {
            tracing::error!(error = %e, sync_id, "status report lost");
        }
    }

    /// Sends a prepared status report.
    pub async fn report(&self, trace: &TraceContext, report: &StatusReport, dedupe_key: &str) -> Result<(), BusError> {
        let id = format!("status:{}:{}", report.sync_id, dedupe_key);
        publish_json(self.bus.as_ref(), Topic::Status, &id, trace, report).await
    }
}

/// Runs `concurrency` competing consumers of the handler's topic until the bus closes.
pub async fn run_consumer<H: Handler>(
    handler: Arc<H>,
    bus: Arc<dyn MessageBus>,
    max_attempts: u32,
    concurrency: usize,
) -> Result<(), BusError> {
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..concurrency.max(1) {
        let mut subscription = bus.subscribe(H::TOPIC).await?;
        let handler = handler.clone();
        tasks.spawn(async move {
            while let Some(delivery) = subscription.next().await? {
                settle(handler.as_ref(), delivery, max_attempts).await?;
            }
            Ok::<(), BusError>(())
        });
    }
    while let Some(result) = tasks.join_next().await {
        result.expect("consumer task panicked")?;
    }
    Ok(())
}

/// Handles one delivery and settles it: ack on success or for good, nack to retry. The
/// handler runs inside a `handle <function>` span continuing the message's trace, so
/// whatever it publishes (next stage, status reports) stays in that trace.
pub async fn settle<H: Handler>(handler: &H, delivery: Delivery, max_attempts: u32) -> Result<(), BusError> {
    settle_with(handler, delivery, max_attempts, KEEP_ALIVE).await
}

/// `settle`, telling the bus every `keep_alive` that the delivery is still being handled.
pub async fn settle_with<H: Handler>(
    handler: &H,
    delivery: Delivery,
    max_attempts: u32,
    keep_alive: Duration,
) -> Result<(), BusError> {
    let span = tracing::info_span!(
        "handle",
        otel.name = %format!("handle {}", H::NAME),
        otel.kind = "consumer",
        otel.status_code = tracing::field::Empty,
        function = H::NAME,
        message_id = %delivery.id,
        attempt = delivery.attempt,
        trace_id = tracing::field::Empty,
    );
    crate::trace::continue_trace(&span, &delivery.headers);
    // One id for logs, handlers and spans: the OpenTelemetry span's when there is one.
    let trace = TraceContext::of_span(&span)
        .or_else(|| delivery.headers.get(TRACEPARENT).and_then(|t| TraceContext::parse(t)))
        .unwrap_or_else(TraceContext::new_root);
    span.record("trace_id", trace.trace_id.as_str());
    let meta = MessageMeta { id: delivery.id.clone(), attempt: delivery.attempt, max_attempts, trace };
    let settled = async move {
        let message: H::Message = match serde_json::from_slice(&delivery.payload) {
            Ok(message) => message,
            Err(e) => {
                tracing::error!(function = H::NAME, message_id = %meta.id, error = %e, "dropping undecodable message");
                tracing::Span::current().record("otel.status_code", "error");
                return delivery.ack().await;
            }
        };
        match handle_keeping_alive(handler, &message, &meta, &delivery, keep_alive).await {
            Ok(()) => delivery.ack().await,
            Err(error @ HandlerError::Retryable(_)) if !meta.is_last_attempt() => {
                let delay = backoff(meta.attempt);
                tracing::warn!(function = H::NAME, error = %error, retry_in_ms = delay.as_millis() as u64, "handler failed, will retry");
                tracing::Span::current().record("otel.status_code", "error");
                delivery.nack(delay).await
            }
            Err(error) => {
                tracing::error!(function = H::NAME, error = %error, "handler failed for good");
                tracing::Span::current().record("otel.status_code", "error");
                handler.give_up(&message, &meta, &error).await;
                delivery.ack().await
            }
        }
    };
    settled.instrument(span).await
}

/// How often a running handler tells the bus it is still working: well inside the 30 s
/// ack deadline the buses default to, so a handler moving a file of many gigabytes keeps
/// its delivery instead of seeing it handed to another consumer mid-run.
const KEEP_ALIVE: Duration = Duration::from_secs(10);

async fn handle_keeping_alive<H: Handler>(
    handler: &H,
    message: &H::Message,
    meta: &MessageMeta,
    delivery: &Delivery,
    keep_alive: Duration,
) -> Result<(), HandlerError> {
    let handled = handler.handle(message, meta);
    tokio::pin!(handled);
    let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + keep_alive, keep_alive);
    loop {
        tokio::select! {
            result = &mut handled => return result,
            _ = ticker.tick() => {
                if let Err(e) = delivery.in_progress().await {
                    tracing::warn!(function = H::NAME, error = %e, "could not extend the delivery's ack deadline");
                }
            }
        }
    }
}

fn backoff(attempt: u32) -> Duration {
    let ms = 250u64.saturating_mul(1 << attempt.min(7));
    Duration::from_millis(ms.min(30_000))
}
