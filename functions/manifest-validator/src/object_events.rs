//! Object-created events as a sync trigger: a new `<SHARED_ID>/shard<k>/manifest` in a
//! receiving connection's inbox starts that connection's sync at once, instead of at the
//! scheduler's next tick. Events arrive as S3 notification JSON (a Lambda's S3 trigger, or
//! the body of an SQS message the bucket notifies).

use airlock_bus::Topic;
use airlock_domain::pipeline::PollRequest;
use airlock_domain::{new_id, ConnectionKind};
use airlock_runtime::{publish_json, Context, HandlerError, TraceContext};
use serde_json::Value;
use std::sync::Arc;

/// One object written to a bucket, as an S3 notification tells it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectCreated {
    pub bucket: String,
    /// The object key, URL-decoded.
    pub key: String,
    /// What tells this write from another of the same key (the event's sequencer, else the
    /// ETag, else the event time), so a repeated notification of one write starts one sync.
    pub version: String,
}

/// The shared ID of a manifest key `<SHARED_ID>/shard<k>/manifest`, or None for any other key.
pub fn manifest_shared_id(key: &str) -> Option<&str> {
    let (rest, file) = key.rsplit_once('/')?;
    let (shared_id, shard) = rest.rsplit_once('/')?;
    let digits = shard.strip_prefix("shard")?;
    let valid_id = !shared_id.is_empty()
        && shared_id.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    let valid_shard = !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit());
    (file == "manifest" && valid_id && valid_shard).then_some(shared_id)
}

/// Starts a sync of every active receiving connection whose inbox is `bucket` and whose
/// shared ID the manifest key names; returns the new sync ids (empty for other keys).
/// The poll's message id names the connection, key and version, so the bus drops a
/// repeated notification of one write (within its de-duplication window).
pub async fn on_object_created(ctx: &Context, event: &ObjectCreated) -> Result<Vec<String>, HandlerError> {
    let Some(shared_id) = manifest_shared_id(&event.key) else {
        tracing::debug!(bucket = %event.bucket, key = %event.key, "object is not a manifest, ignored");
        return Ok(Vec::new());
    };
    let mut started = Vec::new();
    for connection in ctx.repo.connections(false).await.map_err(HandlerError::retryable)? {
        let inbox_bucket = ctx.stores.bucket_of(&connection.store_label);
        if connection.kind != ConnectionKind::Receiving
            || !connection.is_active()
            || connection.shared_id != shared_id
            || inbox_bucket != Some(event.bucket.as_str())
        {
            continue;
        }
        let sync_id = new_id();
        let request = PollRequest { sync_id: sync_id.clone(), connection_id: connection.id.clone() };
        let id = format!("object-created:{}:{}:{}", connection.id, event.key, event.version);
        publish_json(ctx.bus.as_ref(), Topic::Poll, &id, &TraceContext::new_root(), &request)
            .await
            .map_err(HandlerError::retryable)?;
        tracing::info!(connection_id = %connection.id, %sync_id, key = %event.key, "manifest written, sync started");
        started.push(sync_id);
    }
    Ok(started)
}

/// The object-created records of an S3 notification (`{"Records": [...]}`); other records
/// (removals, test events) are left out. Lenient on purpose: S3-compatible servers leave out
/// fields AWS sends (moto has no `userIdentity`), and only bucket, key and version matter.
pub fn object_created_records(notification: &Value) -> Vec<ObjectCreated> {
    let records = notification.get("Records").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
    records
        .iter()
        .filter(|record| {
            let name = record.get("eventName").and_then(Value::as_str).unwrap_or_default();
            name.trim_start_matches("s3:").starts_with("ObjectCreated")
        })
        .filter_map(|record| {
            let s3 = record.get("s3")?;
            let object = s3.get("object")?;
            let version = text(object.get("sequencer"))
                .or_else(|| text(object.get("eTag")))
                .or_else(|| text(record.get("eventTime")))
                .unwrap_or_default();
            Some(ObjectCreated {
                bucket: text(s3.get("bucket")?.get("name"))?.to_owned(),
                key: url_decode(text(object.get("key"))?),
                version: version.to_owned(),
            })
        })
        .collect()
}

/// A non-empty string field.
fn text(value: Option<&Value>) -> Option<&str> {
    value.and_then(Value::as_str).filter(|v| !v.is_empty())
}

/// S3 notifications URL-encode keys, with '+' for spaces.
fn url_decode(key: &str) -> String {
    let bytes = key.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match (hex_value(bytes[i + 1]), hex_value(bytes[i + 2])) {
                (Some(high), Some(low)) => {
                    out.push(high * 16 + low);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            other => out.push(other),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex_value(digit: u8) -> Option<u8> {
    (digit as char).to_digit(16).map(|value| value as u8)
}

/// The container's trigger: the inbox bucket's notifications delivered to an SQS queue.
/// Each message's notification starts the syncs it names and is then deleted; one whose
/// syncs could not start stays and comes back after its visibility timeout. Runs until the
/// task is dropped; receive failures are logged and retried.
pub async fn consume_object_events(
    ctx: Arc<Context>,
    sqs: aws_sdk_sqs::Client,
    queue_url: String,
    started: impl Fn(&str) + Send + Sync,
) {
    loop {
        let received =
            sqs.receive_message().queue_url(&queue_url).wait_time_seconds(20).max_number_of_messages(10).send().await;
        let output = match received {
            Ok(output) => output,
            Err(e) => {
                tracing::warn!(queue_url, error = %aws_sdk_sqs::error::DisplayErrorContext(&e), "receiving object-created events failed, retrying in 5 s");
                tokio::time::sleep(std::time::Duration::from_secs(5)).await;
                continue;
            }
        };
        for message in output.messages() {
            let notification: Value = serde_json::from_str(message.body().unwrap_or("{}")).unwrap_or_default();
            let mut handled = true;
            for object in object_created_records(&notification) {
                match on_object_created(&ctx, &object).await {
                    Ok(syncs) => syncs.iter().for_each(|sync_id| started(sync_id)),
                    Err(e) => {
                        tracing::warn!(key = %object.key, error = %e, "object-created event not handled, it will come back");
                        handled = false;
                        break;
                    }
                }
            }
            if handled {
                let receipt = message.receipt_handle().unwrap_or_default();
                if let Err(e) = sqs.delete_message().queue_url(&queue_url).receipt_handle(receipt).send().await {
                    tracing::warn!(error = %aws_sdk_sqs::error::DisplayErrorContext(&e), "deleting a handled event failed; it will be handled again, harmlessly");
                }
            }
        }
    }
}

/// The SQS endpoint of a queue URL: AWS's own hosts need none (the SDK knows them), any
/// other server (moto, ElasticMQ) is reached at the URL's scheme, host and port.
pub fn queue_endpoint(queue_url: &str) -> airlock_bus::SqsEndpoint {
    let origin = queue_url.split('/').take(3).collect::<Vec<_>>().join("/");
    let on_aws = origin.ends_with(".amazonaws.com") || origin.ends_with(".amazonaws.com.cn");
    airlock_bus::SqsEndpoint { endpoint_url: (!on_aws).then_some(origin), region: None, credentials: None }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_endpoint_is_set_only_off_aws() {
        let aws = queue_endpoint("https://sqs.eu-west-1.amazonaws.com/123456789012/airlock-manifests");
        assert_eq!(aws.endpoint_url, None);
        let local = queue_endpoint("http://127.0.0.1:5000/123456789012/airlock-manifests");
        assert_eq!(local.endpoint_url.as_deref(), Some("http://127.0.0.1:5000"));
    }

    #[test]
    fn only_manifest_keys_name_a_shared_id() {
        assert_eq!(manifest_shared_id("a-to-b-x1/shard0/manifest"), Some("a-to-b-x1"));
        assert_eq!(manifest_shared_id("a.b_c/shard12/manifest"), Some("a.b_c"));
        for other in
            ["a/shard0/objects/r/v", "a/shardx/manifest", "a/shard/manifest", "shard0/manifest", "a/b/shard0/manifest"]
        {
            assert_eq!(manifest_shared_id(other), None, "{other}");
        }
    }

    #[test]
    fn records_keep_object_created_only_and_decode_keys() {
        let notification = serde_json::json!({"Records": [
            {"eventName": "ObjectCreated:Put", "eventTime": "t1",
             "s3": {"bucket": {"name": "inbox"}, "object": {"key": "my+id%2Fx/shard0/manifest", "eTag": "e1"}}},
            {"eventName": "ObjectRemoved:Delete",
             "s3": {"bucket": {"name": "inbox"}, "object": {"key": "k", "sequencer": "01"}}},
        ]});
        let records = object_created_records(&notification);
        assert_eq!(
            records,
            vec![ObjectCreated { bucket: "inbox".into(), key: "my id/x/shard0/manifest".into(), version: "e1".into() }]
        );
        assert!(object_created_records(&serde_json::json!({"Event": "s3:TestEvent"})).is_empty());
    }
}
