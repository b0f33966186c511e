//! The manifest-validator as a Lambda with two triggers: its SQS queue of polls, and the
//! inbox bucket's object-created notifications. One function serves both, told apart by
//! the records' event source.

use crate::object_events::{object_created_records, on_object_created};
use crate::ManifestValidator;
use airlock_runtime::lambda::aws_lambda_events::event::sqs::{BatchItemFailure, SqsEvent, SqsMessage};
use airlock_runtime::lambda::sqs_batch;
use airlock_runtime::HandlerError;
use serde_json::{json, Value};

/// Answers one invocation: the partial batch response for an SQS batch, or the syncs
/// started for an S3 notification. An S3 notification that could not start its syncs fails
/// the invocation, so Lambda retries it (the poll ids keep retries from doubling syncs).
pub async fn on_lambda_event(validator: &ManifestValidator, event: Value) -> Result<Value, HandlerError> {
    let source = event.pointer("/Records/0/eventSource").and_then(Value::as_str).unwrap_or_default();
    if source == "aws:sqs" {
        let mut batch: SqsEvent = serde_json::from_value(event)
            .map_err(|e| HandlerError::permanent(format!("sqs event does not parse: {e}")))?;
        // The inbox bucket may notify through a queue (S3 -> SQS -> Lambda): those records
        // carry an S3 notification in their body, the others a poll.
        let (notifications, polls): (Vec<SqsMessage>, Vec<SqsMessage>) =
            std::mem::take(&mut batch.records).into_iter().partition(|record| notification_in(record).is_some());
        batch.records = polls;
        let mut response = sqs_batch(validator, batch, validator.ctx.settings.max_attempts).await;
        for record in notifications {
            let notification = notification_in(&record).unwrap_or_default();
            for object in object_created_records(&notification) {
                if let Err(e) = on_object_created(&validator.ctx, &object).await {
                    tracing::warn!(key = %object.key, error = %e, "object-created notification not handled, sqs will retry it");
                    let mut failure = BatchItemFailure::default();
                    failure.item_identifier = record.message_id.clone().unwrap_or_default();
                    response.batch_item_failures.push(failure);
                    break;
                }
            }
        }
        return serde_json::to_value(response).map_err(HandlerError::permanent);
    }
    let mut syncs = Vec::new();
    for object in object_created_records(&event) {
        syncs.extend(on_object_created(&validator.ctx, &object).await?);
    }
    Ok(json!({ "syncs": syncs }))
}

/// The S3 notification an SQS record carries in its body, if it is one.
fn notification_in(record: &SqsMessage) -> Option<Value> {
    let body: Value = serde_json::from_str(record.body.as_deref()?).ok()?;
    let is_s3 =
        body.pointer("/Records/0/s3").is_some() || body.get("Event").and_then(Value::as_str) == Some("s3:TestEvent");
    is_s3.then_some(body)
}
