//! The contract suite against every backend. NATS uses `AIRLOCK_TEST_NATS_URL` (default
//! nats://127.0.0.1:4222), or a nats-server of its own when nothing listens there.

use airlock_bus::testing::NatsServer;
use airlock_bus::{contract, InProcessBus, NatsBus, NatsOptions};
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
