//! A handler that runs longer than the bus's ack wait keeps its delivery: the consumer
//! signals progress, so the message is not handed out again mid-run.

use airlock_bus::{InProcessBus, MessageBus, OutgoingMessage, Topic};
use airlock_runtime::consumer::settle_with;
use airlock_runtime::{Handler, HandlerError, MessageMeta};
use async_trait::async_trait;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

struct Slow {
    runs: AtomicU32,
}

#[async_trait]
impl Handler for Slow {
    type Message = String;
    const NAME: &'static str = "slow";
    const TOPIC: Topic = Topic::Publish;

    async fn handle(&self, _message: &String, _meta: &MessageMeta) -> Result<(), HandlerError> {
        self.runs.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(1200)).await;
        Ok(())
    }
}

#[tokio::test]
async fn long_handler_keeps_its_delivery() {
    let bus = InProcessBus::with_ack_wait(Duration::from_millis(300));
    bus.publish(Topic::Publish, OutgoingMessage::new("big-file", "\"x\"")).await.unwrap();
    let mut first = bus.subscribe(Topic::Publish).await.unwrap();
    let mut competitor = bus.subscribe(Topic::Publish).await.unwrap();
    let handler = Slow { runs: AtomicU32::new(0) };

    let delivery = first.next().await.unwrap().unwrap();
    let settle = settle_with(&handler, delivery, 3, Duration::from_millis(100));
    let stolen = tokio::time::timeout(Duration::from_millis(1500), competitor.next());
    let (settled, stolen) = tokio::join!(settle, stolen);
    settled.unwrap();
    assert!(stolen.is_err(), "the message was handed to another consumer while its handler ran");
    assert_eq!(handler.runs.load(Ordering::SeqCst), 1);
    assert!(bus.wait_idle(Duration::from_secs(1)).await, "acked after the long run");
}
