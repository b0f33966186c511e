//! The contract suite against every backend. NATS uses `AIRLOCK_TEST_NATS_URL` (default
//! nats://127.0.0.1:4222), or a nats-server of its own when nothing listens there; SQS uses
//! moto (`AIRLOCK_TEST_S3_ENDPOINT`, or a `moto_server` of its own).

use airlock_bus::testing::NatsServer;
use airlock_bus::{contract, InProcessBus, NatsBus, NatsOptions, SqsBus, SqsEndpoint, SqsOptions};
use std::sync::Arc;
use std::time::Duration;

#[tokio::test]
async fn in_process_bus_meets_the_contract() {
    let bus = InProcessBus::new();
    contract::run_all(Arc::new(bus.clone())).await;
    assert!(bus.wait_idle(Duration::from_secs(1)).await, "the suite left messages pending");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nats_bus_meets_the_contract() -> anyhow::Result<()> {
    let server = NatsServer::find_or_start().map_err(anyhow::Error::msg)?;
    let prefix = format!("test_{}", uuid::Uuid::new_v4().simple());
    // A short ack wait so a lost nak on drop would still be redelivered within the suite.
    let ack_wait = Duration::from_secs(2);
    let options = NatsOptions { ack_wait, memory_storage: true };
    let bus = Arc::new(NatsBus::connect_with(&server.url, &prefix, options).await?);
    let suite_bus = bus.clone();
    let outcome = tokio::spawn(async move {
        contract::run_all(suite_bus.clone()).await;
        contract::in_progress_holds_the_delivery(suite_bus.as_ref(), ack_wait).await;
    })
    .await;
    bus.delete_streams().await;
    drop(server);
    if let Err(err) = outcome {
        std::panic::resume_unwind(err.into_panic());
    }
    Ok(())
}

/// moto serves SQS on the same port as S3, so the store's moto fixture serves here too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqs_bus_meets_the_contract() -> anyhow::Result<()> {
    let server = airlock_store::testing::LocalServer::s3().map_err(anyhow::Error::msg)?;
    let endpoint = SqsEndpoint {
        endpoint_url: Some(server.endpoint.clone()),
        region: Some("us-east-1".into()),
        credentials: Some(("testing".into(), "testing".into())),
    };
    let prefix = format!("test-{}", uuid::Uuid::new_v4().simple());
    // A short visibility timeout plays the part of NATS's short ack wait: a receive the
    // suite abandoned (its subscription dropped mid long-poll) may have taken a message,
    // which must come back within the suite's patience. Short polls keep such receives rare.
    let visibility_timeout = Duration::from_secs(2);
    let options = SqsOptions { visibility_timeout, wait_time: Duration::from_secs(1) };
    let bus = Arc::new(SqsBus::connect(endpoint, &prefix, options).await?);
    let suite_bus = bus.clone();
    let outcome = tokio::spawn(async move {
        contract::run_all(suite_bus.clone()).await;
        contract::in_progress_holds_the_delivery(suite_bus.as_ref(), visibility_timeout).await;
    })
    .await;
    bus.delete_queues().await;
    drop(server);
    if let Err(err) = outcome {
        std::panic::resume_unwind(err.into_panic());
    }
    Ok(())
}
