//! The Lambda entries driven directly with the payloads AWS sends (an SQS batch, an S3
//! notification, an EventBridge scheduled event), on the embedded two-platform fixture.

use airlock_domain::manifest::manifest_key;
use airlock_domain::pipeline::PollRequest;
use airlock_domain::Health;
use airlock_local::pair::{Pair, PairSetup, BOB, SYNC_TIMEOUT};
use airlock_local::ManifestValidator;
use airlock_runtime::lambda::aws_lambda_events::event::eventbridge::EventBridgeEvent;
use airlock_runtime::lambda::aws_lambda_events::event::sqs::SqsEvent;
use airlock_runtime::lambda::sqs_batch;
use airlock_runtime::{Handler, HandlerError, MessageMeta};
use airlock_tests::finished;
use async_trait::async_trait;
use serde_json::{json, Value};
use std::time::Duration;

/// One SQS record as Lambda delivers it from a FIFO queue the SQS bus fills.
fn sqs_record(message_id: &str, body: &str, receive_count: u32) -> Value {
    json!({
        "messageId": message_id,
        "receiptHandle": "AQEBwJnKyrHigUMZj6rYigCgxlaS3SLy0a",
        "body": body,
        "attributes": {
            "ApproximateReceiveCount": receive_count.to_string(),
            "SentTimestamp": "1732500000000",
            "SenderId": "AIDAIENQZJOLO23YVJ4VO",
            "ApproximateFirstReceiveTimestamp": "1732500000010",
            "MessageGroupId": format!("poll:{message_id}"),
            "MessageDeduplicationId": format!("poll:{message_id}"),
            "SequenceNumber": "18849496460467696128"
        },
        "messageAttributes": {
            "airlock-id": {"stringValue": format!("poll:{message_id}"), "stringListValues": [], "binaryListValues": [], "dataType": "String"},
            "traceparent": {"stringValue": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "stringListValues": [], "binaryListValues": [], "dataType": "String"}
        },
        "md5OfBody": "e4e68fb7bd0e697a0ae8f1bb342846b3",
        "md5OfMessageAttributes": "00484c68...59e48f06",
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:eu-west-1:123456789012:airlock-poll.fifo",
        "awsRegion": "eu-west-1"
    })
}

/// The manifest-validator, except that polls of one connection id fail as if the store
/// were briefly away.
struct FlakyValidator {
    inner: ManifestValidator,
    flaky_connection: String,
}

#[async_trait]
impl Handler for FlakyValidator {
    type Message = PollRequest;
    const NAME: &'static str = "flaky-validator";
    const TOPIC: airlock_bus::Topic = airlock_bus::Topic::Poll;

    async fn handle(&self, request: &PollRequest, meta: &MessageMeta) -> Result<(), HandlerError> {
        if request.connection_id == self.flaky_connection {
            return Err(HandlerError::retryable("inbox store briefly unreachable"));
        }
        self.inner.handle(request, meta).await
    }
}

/// A pair where A has published one shared file.
async fn published_pair(dir: &std::path::Path) -> anyhow::Result<Pair> {
    let pair = Pair::start(PairSetup::embedded(dir)).await?;
    let file = pair.upload("readme.txt", "PUBLIC", &[], b"hello partner\n").await?;
    pair.share(&file.id).await?;
    let sent = pair.a.sync(SYNC_TIMEOUT).await?;
    assert_eq!(finished(&sent[0]), Health::Success, "{sent:?}");
    Ok(pair)
}

#[tokio::test]
async fn sqs_batch_reports_only_the_retryable_failure() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let pair = published_pair(dir.path()).await?;
    let handler =
        FlakyValidator { inner: ManifestValidator::new(pair.b.ctx.clone()), flaky_connection: "flaky".into() };
    let good = PollRequest { sync_id: "sync-good".into(), connection_id: pair.receiving.id.clone() };
    let flaky = PollRequest { sync_id: "sync-flaky".into(), connection_id: "flaky".into() };
    let event = json!({ "Records": [
        sqs_record("m-good", &serde_json::to_string(&good)?, 1),
        sqs_record("m-flaky", &serde_json::to_string(&flaky)?, 1),
        sqs_record("m-garbage", "not a poll request", 1),
    ]});
    let event: SqsEvent = serde_json::from_value(event)?;
    let max_attempts = pair.b.ctx.settings.max_attempts;

    let response = sqs_batch(&handler, event, max_attempts).await;
    let failed: Vec<&str> = response.batch_item_failures.iter().map(|f| f.item_identifier.as_str()).collect();
    assert_eq!(failed, ["m-flaky"], "only the retryable failure is delivered again");
    let received = pair.b.wait_for_sync("sync-good", SYNC_TIMEOUT).await?;
    assert_eq!((finished(&received), received.updated), (Health::Success, 1), "{received:?}");
    assert_eq!(pair.files_at_b(BOB).await?.len(), 1);

    // On its last attempt (by ApproximateReceiveCount) the flaky record is given up, not retried.
    let last = json!({ "Records": [sqs_record("m-flaky", &serde_json::to_string(&flaky)?, max_attempts)] });
    let response = sqs_batch(&handler, serde_json::from_value(last)?, max_attempts).await;
    assert!(response.batch_item_failures.is_empty(), "{response:?}");
    Ok(())
}

/// An S3 ObjectCreated notification as AWS sends it to a Lambda.
fn s3_notification(bucket: &str, key: &str, etag: &str) -> Value {
    json!({ "Records": [{
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "awsRegion": "eu-west-1",
        "eventTime": "2026-11-25T02:00:00.000Z",
        "eventName": "ObjectCreated:Put",
        "userIdentity": {"principalId": "AWS:AIDAINPONIXQXHT3IKHL2"},
        "requestParameters": {"sourceIPAddress": "203.0.113.10"},
        "responseElements": {"x-amz-request-id": "C3D13FE58DE4C810", "x-amz-id-2": "FMyUVURIY8/IgAtTv8xRjskZQpcIZ9KG4V5Wp6S7S/JRWeUWerMUE5JgHvANOjpD"},
        "s3": {
            "s3SchemaVersion": "1.0",
            "configurationId": "airlock-manifests",
            "bucket": {"name": bucket, "ownerIdentity": {"principalId": "A3NL1KOZZKExample"}, "arn": format!("arn:aws:s3:::{bucket}")},
            "object": {"key": key, "size": 1024, "eTag": etag, "sequencer": "0055AED6DCD90281E5"}
        }
    }]})
}

#[tokio::test]
async fn s3_manifest_event_starts_a_sync_once() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let pair = published_pair(dir.path()).await?;
    let validator = ManifestValidator::new(pair.b.ctx.clone());
    let key = manifest_key(&pair.receiving.shared_id);
    let event = s3_notification(&pair.exchange_bucket, &key, "d41d8cd98f00b204e9800998ecf8427e");

    let answer = airlock_manifest_validator::on_lambda_event(&validator, event.clone()).await?;
    let syncs: Vec<String> = serde_json::from_value(answer["syncs"].clone())?;
    assert_eq!(syncs.len(), 1, "{answer}");
    let received = pair.b.wait_for_sync(&syncs[0], SYNC_TIMEOUT).await?;
    assert_eq!((finished(&received), received.updated), (Health::Success, 1), "{received:?}");
    assert_eq!(pair.files_at_b(BOB).await?.len(), 1, "the file arrived without a tick at B");

    // The same notification again (S3 delivers at least once) starts no second sync.
    let again = airlock_manifest_validator::on_lambda_event(&validator, event).await?;
    let again: Vec<String> = serde_json::from_value(again["syncs"].clone())?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(pair.b.ctx.repo.sync_event(&again[0]).await?.is_none(), "a repeated event started a sync");

    // Payload objects and other buckets are ignored.
    let payload_key = format!("{}/objects/r.v", pair.receiving.shared_id);
    let other = [s3_notification(&pair.exchange_bucket, &payload_key, "e1"), s3_notification("elsewhere", &key, "e2")];
    for event in other {
        let answer = airlock_manifest_validator::on_lambda_event(&validator, event).await?;
        assert_eq!(answer["syncs"], json!([]), "{answer}");
    }
    Ok(())
}

/// S3 -> SQS -> Lambda: the validator's queue carries the bucket's notification in a record
/// body; that record starts the sync, and an S3 test event is acknowledged without effect.
#[tokio::test]
async fn s3_notification_through_sqs_starts_a_sync() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let pair = published_pair(dir.path()).await?;
    let validator = ManifestValidator::new(pair.b.ctx.clone());
    let key = manifest_key(&pair.receiving.shared_id);
    let notification = s3_notification(&pair.exchange_bucket, &key, "9b2cf535f27731c974343645a3985328");
    let test_event = json!({"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": pair.exchange_bucket});
    let batch = json!({ "Records": [
        sqs_record("m-notification", &serde_json::to_string(&notification)?, 1),
        sqs_record("m-test-event", &serde_json::to_string(&test_event)?, 1),
    ]});
    let answer = airlock_manifest_validator::on_lambda_event(&validator, batch).await?;
    assert_eq!(answer["batchItemFailures"], json!([]), "{answer}");
    let deadline = tokio::time::Instant::now() + SYNC_TIMEOUT;
    while pair.files_at_b(BOB).await?.is_empty() {
        assert!(tokio::time::Instant::now() < deadline, "the notification started no sync at B");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(())
}

#[tokio::test]
async fn scheduled_event_ticks_once_per_event() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let pair = Pair::start(PairSetup::embedded(dir.path())).await?;
    let file = pair.upload("readme.txt", "PUBLIC", &[], b"hello partner\n").await?;
    pair.share(&file.id).await?;
    let event: EventBridgeEvent<Value> = serde_json::from_value(json!({
        "version": "0",
        "id": "53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa",
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "123456789012",
        "time": "2026-11-25T02:00:00Z",
        "region": "eu-west-1",
        "resources": ["arn:aws:events:eu-west-1:123456789012:rule/airlock-scheduler"],
        "detail": {}
    }))?;

    let summary = airlock_scheduler::on_scheduled_event(&pair.a.ctx, &event).await?;
    assert_eq!((summary.publish.len(), summary.poll.len()), (1, 0), "{summary:?}");
    let sent = pair.a.wait_for_sync(&summary.publish[0].1, SYNC_TIMEOUT).await?;
    assert_eq!((finished(&sent), sent.updated), (Health::Success, 1), "{sent:?}");

    // A retried invocation of the same event falls in the same slot: no second sync.
    let retry = airlock_scheduler::on_scheduled_event(&pair.a.ctx, &event).await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(pair.a.ctx.repo.sync_event(&retry.publish[0].1).await?.is_none(), "a retried event started a sync");
    Ok(())
}
