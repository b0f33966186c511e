//! The manifest-validator as a Lambda with two triggers: its SQS queue of polls, and the
//! inbox bucket's object-created notifications. One function serves both, told apart by
//! the records' event source.

use crate::object_events::{object_created_records, on_object_created};
use crate::ManifestValidator;
use airlock_runtime::lambda::aws_lambda_events::event::sqs::SqsEvent;
use airlock_runtime::lambda::sqs_batch;
use airlock_runtime::HandlerError;
use serde_json::{json, Value};

/// Answers one invocation: the partial batch response for an SQS batch, or the syncs
/// started for an S3 notification. An S3 notification that could not start its syncs fails
/// the invocation, so Lambda retries it (the poll ids keep retries from doubling syncs).
pub async fn on_lambda_event(validator: &ManifestValidator, event: Value) -> Result<Value, HandlerError> {
    let source = event.pointer("/Records/0/eventSource").and_then(Value::as_str).unwrap_or_default();
    if source == "aws:sqs" {
        let batch: SqsEvent = serde_json::from_value(event)
            .map_err(|e| HandlerError::permanent(format!("sqs event does not parse: {e}")))?;
        let response = sqs_batch(validator, batch, validator.ctx.settings.max_attempts).await;
        return serde_json::to_value(response).map_err(HandlerError::permanent);
    }
    let mut syncs = Vec::new();
    for object in object_created_records(&event) {
        syncs.extend(on_object_created(&validator.ctx, &object).await?);
    }
    Ok(json!({ "syncs": syncs }))
}
