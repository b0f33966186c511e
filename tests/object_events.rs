//! S3 event notifications as the sync trigger, on moto: the exchange bucket notifies an SQS
//! queue of every new manifest, the validator's `consume_object_events` (what its container
//! runs with AIRLOCK_OBJECT_EVENTS_QUEUE_URL) starts B's sync from each event, and B
//! receives what A publishes without its scheduler ticking.

use airlock_bus::SqsEndpoint;
use airlock_domain::Health;
use airlock_local::pair::{Pair, PairSetup, BOB, SYNC_TIMEOUT};
use airlock_store::testing::LocalServer;
use airlock_store::NamedStores;
use airlock_tests::finished;
use aws_sdk_sqs::types::QueueAttributeName;
use std::io::{Read, Write};
use std::time::Duration;
use tokio::sync::mpsc;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn manifest_notification_starts_the_receiving_sync() -> anyhow::Result<()> {
    let server = LocalServer::s3().map_err(anyhow::Error::msg)?;
    let bucket = server.new_bucket("EXCHANGE").map_err(anyhow::Error::msg)?;
    let sqs = SqsEndpoint {
        endpoint_url: Some(server.endpoint.clone()),
        region: Some("us-east-1".into()),
        credentials: Some(("testing".into(), "testing".into())),
    }
    .client()
    .await;
    let queue = sqs.create_queue().queue_name(format!("events-{}", uuid::Uuid::new_v4().simple())).send().await?;
    let queue_url = queue.queue_url().unwrap_or_default().to_owned();
    let attributes =
        sqs.get_queue_attributes().queue_url(&queue_url).attribute_names(QueueAttributeName::QueueArn).send().await?;
    let queue_arn =
        attributes.attributes().and_then(|a| a.get(&QueueAttributeName::QueueArn)).cloned().unwrap_or_default();
    notify_manifests(&server.endpoint, &bucket.name, &queue_arn)?;

    let dir = tempfile::tempdir()?;
    let mut setup = PairSetup::embedded(dir.path());
    setup.exchange = Some(NamedStores::from_configs(std::slice::from_ref(&bucket))?.get("EXCHANGE")?);
    setup.exchange_bucket = Some(bucket.name.clone());
    let pair = Pair::start(setup).await?;

    let (started_tx, mut started) = mpsc::unbounded_channel();
    let consumer = tokio::spawn(airlock_manifest_validator::consume_object_events(
        pair.b.ctx.clone(),
        sqs.clone(),
        queue_url.clone(),
        move |sync_id| {
            let _ = started_tx.send(sync_id.to_owned());
        },
    ));

    let file = pair.upload("readme.txt", "PUBLIC", &[], b"hello partner\n").await?;
    pair.share(&file.id).await?;
    let sent = pair.a.sync(SYNC_TIMEOUT).await?;
    assert_eq!(finished(&sent[0]), Health::Success, "{sent:?}");

    // No tick at B: the manifest's notification is what starts B's sync.
    let sync_id = tokio::time::timeout(SYNC_TIMEOUT, started.recv()).await?.expect("event consumer stopped");
    let received = pair.b.wait_for_sync(&sync_id, SYNC_TIMEOUT).await?;
    assert_eq!(finished(&received), Health::Success, "{received:?}");
    let files = pair.files_at_b(BOB).await?;
    assert_eq!(files.len(), 1);
    assert_eq!(files[0].1, b"hello partner\n");
    consumer.abort();
    Ok(())
}

/// PutBucketNotificationConfiguration by hand (moto does not check signatures), so the test
/// needs no S3 SDK: ObjectCreated events for keys ending in `/manifest` go to the queue.
fn notify_manifests(endpoint: &str, bucket: &str, queue_arn: &str) -> anyhow::Result<()> {
    let body = format!(
        "<NotificationConfiguration><QueueConfiguration><Id>airlock-manifests</Id><Queue>{queue_arn}</Queue>\
         <Event>s3:ObjectCreated:*</Event><Filter><S3Key><FilterRule><Name>suffix</Name><Value>/manifest</Value>\
         </FilterRule></S3Key></Filter></QueueConfiguration></NotificationConfiguration>"
    );
    let host = endpoint.trim_start_matches("http://").trim_end_matches('/');
    let request = format!(
        "PUT /{bucket}?notification HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/xml\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let mut stream = std::net::TcpStream::connect(host)?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    stream.write_all(request.as_bytes())?;
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    let status = response.lines().next().unwrap_or_default();
    anyhow::ensure!(status.contains(" 200"), "setting the bucket notification failed: {status}");
    Ok(())
}
