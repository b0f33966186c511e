//! The AWS event shapes a function reads when it runs as a Lambda or reads a queue: S3
//! object-created notifications (direct, or in an SQS message body), SQS batches, and
//! EventBridge scheduled events. Whatever the input, parsing returns or refuses without a
//! panic, and a manifest key's shared id is the start of the decoded key.
#![no_main]

use airlock_manifest_validator::{manifest_shared_id, object_created_records};
use airlock_runtime::lambda::aws_lambda_events::event::eventbridge::EventBridgeEvent;
use airlock_runtime::lambda::aws_lambda_events::event::sqs::SqsEvent;
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fn records(notification: &Value) {
    for record in object_created_records(notification) {
        if let Some(shared_id) = manifest_shared_id(&record.key) {
            assert!(record.key.starts_with(shared_id), "shared id {shared_id:?} not at the start of {:?}", record.key);
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(value) = serde_json::from_slice::<Value>(data) else { return };
    records(&value);
    if let Ok(batch) = serde_json::from_value::<SqsEvent>(value.clone()) {
        for message in batch.records {
            if let Some(body) = message.body.as_deref().and_then(|b| serde_json::from_str::<Value>(b).ok()) {
                records(&body);
            }
        }
    }
    let _ = serde_json::from_value::<EventBridgeEvent<Value>>(value);
});
