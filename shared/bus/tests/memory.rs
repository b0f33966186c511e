//! What only the in-process bus promises beyond the shared contract.

use airlock_bus::{InProcessBus, MessageBus, OutgoingMessage, Topic};
use std::time::Duration;

const WITHIN: Duration = Duration::from_secs(5);

#[tokio::test]
async fn unsettled_delivery_returns_after_ack_wait() {
    let bus = InProcessBus::with_ack_wait(Duration::from_millis(200));
    bus.publish(Topic::Ingest, OutgoingMessage::new("slow", "s")).await.unwrap();
    let mut first = bus.subscribe(Topic::Ingest).await.unwrap();
    let mut second = bus.subscribe(Topic::Ingest).await.unwrap();
    let held = first.next().await.unwrap().unwrap();
    let again = tokio::time::timeout(WITHIN, second.next()).await.unwrap().unwrap().unwrap();
    assert_eq!((again.id.as_str(), again.attempt), ("slow", 2));
    again.ack().await.unwrap();
    // The stale delivery's late ack is harmless, and nothing stays pending.
    held.ack().await.unwrap();
    assert_eq!(bus.pending(Topic::Ingest), 0);
}

#[tokio::test]
async fn pending_counts_queued_delayed_and_in_flight() {
    let bus = InProcessBus::new();
    for id in ["a", "b"] {
        bus.publish(Topic::Poll, OutgoingMessage::new(id, "p")).await.unwrap();
    }
    assert_eq!(bus.pending(Topic::Poll), 2);
    assert_eq!(bus.pending(Topic::Status), 0);
    let mut sub = bus.subscribe(Topic::Poll).await.unwrap();
    let a = sub.next().await.unwrap().unwrap();
    a.nack(Duration::from_secs(60)).await.unwrap();
    let b = sub.next().await.unwrap().unwrap();
    assert_eq!(bus.pending(Topic::Poll), 2, "one delayed and one in flight");
    assert!(!bus.wait_idle(Duration::from_millis(50)).await);
    b.ack().await.unwrap();
    assert_eq!(bus.pending(Topic::Poll), 1);
}

#[tokio::test]
async fn wait_idle_returns_once_a_pipeline_drains() {
    let bus = InProcessBus::new();
    assert!(bus.wait_idle(Duration::ZERO).await);
    bus.publish(Topic::Publish, OutgoingMessage::new("job", "j")).await.unwrap();
    let worker = {
        let bus = bus.clone();
        tokio::spawn(async move {
            let mut publish = bus.subscribe(Topic::Publish).await.unwrap();
            let job = publish.next().await.unwrap().unwrap();
            bus.publish(Topic::Status, OutgoingMessage::new("job-done", "d")).await.unwrap();
            job.ack().await.unwrap();
            let mut status = bus.subscribe(Topic::Status).await.unwrap();
            status.next().await.unwrap().unwrap().ack().await.unwrap();
        })
    };
    assert!(bus.wait_idle(WITHIN).await, "pipeline did not drain");
    worker.await.unwrap();
}

#[tokio::test]
async fn connect_opens_an_in_process_bus() {
    let bus = airlock_bus::connect("memory://").await.unwrap();
    bus.publish(Topic::Status, OutgoingMessage::new("m", "x")).await.unwrap();
    let mut sub = bus.subscribe(Topic::Status).await.unwrap();
    assert_eq!(sub.next().await.unwrap().unwrap().id, "m");
    assert!(matches!(airlock_bus::connect("kafka://nowhere").await, Err(airlock_bus::BusError::UnsupportedUrl(_))));
}

#[tokio::test]
async fn in_progress_holds_a_delivery_past_its_ack_wait() {
    let ack_wait = Duration::from_millis(300);
    airlock_bus::contract::in_progress_holds_the_delivery(&InProcessBus::with_ack_wait(ack_wait), ack_wait).await;
}
