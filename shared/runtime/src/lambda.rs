//! Running a function as an AWS Lambda: the same handlers as the container consumers, fed by
//! the Lambda runtime instead of a subscription. An SQS batch goes through `settle` record by
//! record, with an acker that only notes the verdict: acked records are done (Lambda deletes
//! them), nacked ones are reported as batch item failures, so SQS delivers just those again.

use crate::consumer::{settle, Handler};
use crate::context::{Context, StartupError};
use airlock_bus::{sqs_codec, Acker, BusError, Delivery};
use async_trait::async_trait;
use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub use aws_lambda_events;
pub use lambda_runtime;

/// Set by the Lambda environment; its presence is how a main knows it runs as a Lambda.
pub const RUNTIME_API_VAR: &str = "AWS_LAMBDA_RUNTIME_API";

pub fn is_lambda() -> bool {
    std::env::var_os(RUNTIME_API_VAR).is_some()
}

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(transparent)]
    Startup(#[from] StartupError),
    #[error("lambda runtime stopped: {0}")]
    Runtime(String),
}

/// Handles every record of an SQS batch as the consumer loop handles a delivery (decode,
/// handle, retry or give up, the attempt being the record's ApproximateReceiveCount) and
/// returns the partial batch response: the records to deliver again. Needs
/// `ReportBatchItemFailures` on the event source mapping; the retry delay is then the
/// queue's visibility timeout rather than `settle`'s backoff.
pub async fn sqs_batch<H: Handler>(handler: &H, event: SqsEvent, max_attempts: u32) -> SqsBatchResponse {
    let mut response = SqsBatchResponse::default();
    for record in event.records {
        let message_id = record.message_id.clone().unwrap_or_default();
        let verdict = Arc::new(Mutex::new(None));
        let delivery = delivery_of(record, verdict.clone());
        // The noting acker never fails, so neither does settle here.
        if let Err(err) = settle(handler, delivery, max_attempts).await {
            tracing::error!(function = H::NAME, %message_id, error = %err, "settling a lambda record failed");
        }
        let verdict = *verdict.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if verdict != Some(Verdict::Done) {
            let mut failure = BatchItemFailure::default();
            failure.item_identifier = message_id;
            response.batch_item_failures.push(failure);
        }
    }
    response
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Verdict {
    Done,
    Retry,
}

struct NotingAcker(Arc<Mutex<Option<Verdict>>>);

impl NotingAcker {
    fn note(&self, verdict: Verdict) {
        *self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(verdict);
    }
}

#[async_trait]
impl Acker for NotingAcker {
    async fn ack(&self) -> Result<(), BusError> {
        self.note(Verdict::Done);
        Ok(())
    }

    async fn nack(&self, _delay: Duration) -> Result<(), BusError> {
        self.note(Verdict::Retry);
        Ok(())
    }
}

/// A record read the way the SQS bus reads a message, so both see the same id and headers.
fn delivery_of(record: SqsMessage, verdict: Arc<Mutex<Option<Verdict>>>) -> Delivery {
    let attempt = record.attributes.get("ApproximateReceiveCount").and_then(|n| n.parse::<u32>().ok()).unwrap_or(1);
    let attributes: BTreeMap<String, String> =
        record.message_attributes.into_iter().filter_map(|(name, value)| Some((name, value.string_value?))).collect();
    let decoded = sqs_codec::decode(
        record.body.as_deref().unwrap_or_default(),
        attributes,
        record.message_id.as_deref().unwrap_or_default(),
    );
    Delivery {
        id: decoded.id,
        headers: decoded.headers,
        payload: decoded.payload,
        attempt: attempt.max(1),
        acker: Box::new(NotingAcker(verdict)),
    }
}

/// Serves Lambda invocations with `f` until the runtime stops; `f` answers with JSON.
pub async fn run<E, F, Fut>(f: F) -> Result<(), ServeError>
where
    E: DeserializeOwned + Send + 'static,
    F: Fn(E) -> Fut + Send + Sync,
    Fut: Future<Output = Result<Value, lambda_runtime::Error>> + Send,
{
    let f = &f;
    let service = lambda_runtime::service_fn(|event: lambda_runtime::LambdaEvent<E>| async move {
        let answer = f(event.payload).await;
        // Lambda may freeze the process as soon as it answers: export this invocation's
        // spans first (force_flush blocks, so off the async threads).
        let _ = tokio::task::spawn_blocking(crate::telemetry::flush).await;
        answer
    });
    lambda_runtime::run(service).await.map_err(|err| ServeError::Runtime(err.to_string()))
}

/// The whole `main` of an SQS-triggered function under Lambda.
pub async fn serve_sqs<H: Handler>(make: impl FnOnce(Arc<Context>) -> H) -> Result<(), ServeError> {
    crate::telemetry::init_function(H::NAME);
    let ctx = Context::from_env().await?;
    let handler = make(ctx.clone());
    let max_attempts = ctx.settings.max_attempts;
    tracing::info!(function = H::NAME, "serving lambda sqs batches");
    run(|event: SqsEvent| async {
        let response = sqs_batch(&handler, event, max_attempts).await;
        Ok(serde_json::to_value(response)?)
    })
    .await
}
