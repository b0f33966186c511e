//! The behaviour every backend must show, as a suite of checks that panic on failure. Each
//! check tags its message ids with a fresh uuid and acks and ignores anything else it
//! receives, so leftovers of an earlier check or run cannot confuse it; each check settles
//! everything it received, so the topics are clean for the next one.

use crate::{BusError, Delivery, DynBus, MessageBus, OutgoingMessage, Subscription, Topic};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// How long a check waits for a message that should come.
const ARRIVAL: Duration = Duration::from_secs(10);
/// How long a check listens to conclude that a message does not come.
const QUIET: Duration = Duration::from_millis(1500);

/// Runs every check against `bus`, one after the other.
pub async fn run_all(bus: DynBus) {
    let bus: &dyn MessageBus = bus.as_ref();
    rejects_invalid_messages(bus).await;
    round_trip(bus).await;
    ack_removes(bus).await;
    nack_redelivers_after_delay(bus).await;
    drop_redelivers(bus).await;
    duplicate_id_delivered_once(bus).await;
    subscribers_compete(bus).await;
    topics_are_isolated(bus).await;
}

/// An empty id or a transport-reserved header is refused by every backend alike.
pub async fn rejects_invalid_messages(bus: &dyn MessageBus) {
    let empty_id = bus.publish(Topic::Status, OutgoingMessage::new("", "x")).await;
    assert!(matches!(empty_id, Err(BusError::Publish { .. })), "empty id accepted: {empty_id:?}");
    let reserved = OutgoingMessage::new(Tag::new().id("reserved"), "x").with_header("Nats-Expected-Stream", "x");
    let reserved = bus.publish(Topic::Status, reserved).await;
    assert!(matches!(reserved, Err(BusError::Publish { .. })), "reserved header accepted: {reserved:?}");
    // A 1.77 MB status report, as one sync of 10,000 files once sent: refused up front
    // with a message that says why, rather than timing out in the transport.
    let oversized = OutgoingMessage::new(Tag::new().id("oversized"), vec![b'x'; 1_770_000]);
    let oversized = bus.publish(Topic::Status, oversized).await;
    let Err(error @ BusError::TooLarge { .. }) = oversized else { panic!("oversized message accepted: {oversized:?}") };
    assert!(error.to_string().contains("is too large for topic 'status': 17700"), "{error}");
}

/// Id, headers and payload (binary too) arrive unchanged on a first attempt, also when the
/// message was published before anyone subscribed.
pub async fn round_trip(bus: &dyn MessageBus) {
    let tag = Tag::new();
    let sent = OutgoingMessage::new(tag.id("round-trip"), &b"\x00\xffbinary payload"[..])
        .with_header("Content-Type", "application/json")
        .with_header("x-trace", "trace 1; with spaces");
    publish(bus, Topic::Publish, sent.clone()).await;
    let mut sub = subscribe(bus, Topic::Publish).await;
    let got = tag.expect(sub.as_mut(), "round trip").await;
    assert_eq!(got.id, sent.id);
    assert_eq!(got.headers, sent.headers, "headers of '{}' changed in transit", sent.id);
    assert_eq!(got.payload, sent.payload, "payload of '{}' changed in transit", sent.id);
    assert_eq!(got.attempt, 1, "first delivery of '{}' is not attempt 1", sent.id);
    got.ack().await.expect("ack failed");
}

/// An acked message does not come back.
pub async fn ack_removes(bus: &dyn MessageBus) {
    let tag = Tag::new();
    let mut sub = subscribe(bus, Topic::Poll).await;
    publish(bus, Topic::Poll, OutgoingMessage::new(tag.id("ack"), "a")).await;
    let got = tag.expect(sub.as_mut(), "ack").await;
    got.ack().await.expect("ack failed");
    tag.expect_nothing(sub.as_mut(), "after ack").await;
}

/// A nacked message comes back after its delay as attempt 2, unchanged.
pub async fn nack_redelivers_after_delay(bus: &dyn MessageBus) {
    let tag = Tag::new();
    let delay = Duration::from_millis(100);
    let mut sub = subscribe(bus, Topic::Ingest).await;
    let sent = OutgoingMessage::new(tag.id("nack"), "n").with_header("k", "v");
    publish(bus, Topic::Ingest, sent.clone()).await;
    let first = tag.expect(sub.as_mut(), "nack, first attempt").await;
    assert_eq!(first.attempt, 1);
    let nacked_at = Instant::now();
    first.nack(delay).await.expect("nack failed");
    let second = tag.expect(sub.as_mut(), "nack, second attempt").await;
    let waited = nacked_at.elapsed();
    // A little slack for timer granularity; what matters is that the delay was honoured.
    assert!(
        waited >= delay - Duration::from_millis(10),
        "nacked message came back after {waited:?}, before its {delay:?} delay"
    );
    assert_eq!(second.attempt, 2, "redelivery after nack is not attempt 2");
    assert_eq!((&second.id, &second.headers, &second.payload), (&sent.id, &sent.headers, &sent.payload));
    second.ack().await.expect("ack failed");
}

/// A delivery dropped without ack or nack (a crashed handler) comes back as attempt 2.
pub async fn drop_redelivers(bus: &dyn MessageBus) {
    let tag = Tag::new();
    let mut sub = subscribe(bus, Topic::Status).await;
    publish(bus, Topic::Status, OutgoingMessage::new(tag.id("drop"), "d")).await;
    let first = tag.expect(sub.as_mut(), "drop, first attempt").await;
    drop(first);
    let second = tag.expect(sub.as_mut(), "drop, second attempt").await;
    assert_eq!(second.attempt, 2, "redelivery after drop is not attempt 2");
    second.ack().await.expect("ack failed");
}

/// A delivery kept alive with `in_progress` is not handed out again after its ack deadline,
/// however long its handler takes. Not in `run_all`: it needs the bus's ack wait.
pub async fn in_progress_holds_the_delivery(bus: &dyn MessageBus, ack_wait: Duration) {
    let tag = Tag::new();
    let mut sub = subscribe(bus, Topic::Publish).await;
    publish(bus, Topic::Publish, OutgoingMessage::new(tag.id("slow"), "s")).await;
    let slow = tag.expect(sub.as_mut(), "in progress").await;
    let busy_until = Instant::now() + ack_wait * 5 / 2;
    while Instant::now() < busy_until {
        slow.in_progress().await.expect("in-progress signal failed");
        if let Some(again) = tag.receive(sub.as_mut(), ack_wait / 3).await {
            panic!("delivery '{}' was handed out again (attempt {}) while in progress", again.id, again.attempt);
        }
    }
    slow.ack().await.expect("ack after a long handler failed");
    tag.expect_nothing(sub.as_mut(), "after the long handler's ack").await;
}

/// Publishing one id twice is accepted twice and delivered once (the first payload).
pub async fn duplicate_id_delivered_once(bus: &dyn MessageBus) {
    let tag = Tag::new();
    let id = tag.id("dup");
    publish(bus, Topic::Publish, OutgoingMessage::new(id.clone(), "first")).await;
    publish(bus, Topic::Publish, OutgoingMessage::new(id.clone(), "second")).await;
    let mut sub = subscribe(bus, Topic::Publish).await;
    let got = tag.expect(sub.as_mut(), "duplicate").await;
    assert_eq!(got.payload, "first", "duplicate publish of '{id}' replaced the first");
    got.ack().await.expect("ack failed");
    tag.expect_nothing(sub.as_mut(), "after duplicate").await;
}

/// Two subscribers of one topic share its messages: one held by the first is not given to
/// the second, and every message is delivered exactly once across both.
pub async fn subscribers_compete(bus: &dyn MessageBus) {
    const COUNT: usize = 6;
    let tag = Tag::new();
    let mut a = subscribe(bus, Topic::Ingest).await;
    let mut b = subscribe(bus, Topic::Ingest).await;
    for n in 0..COUNT {
        publish(bus, Topic::Ingest, OutgoingMessage::new(tag.id(&n.to_string()), "c")).await;
    }
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    let held = tag.expect(a.as_mut(), "compete, first subscriber").await;
    let other = tag.expect(b.as_mut(), "compete, second subscriber").await;
    assert_ne!(held.id, other.id, "both subscribers got '{}' at once", held.id);
    for delivery in [held, other] {
        *seen.entry(delivery.id.clone()).or_default() += 1;
        delivery.ack().await.expect("ack failed");
    }
    let deadline = Instant::now() + ARRIVAL;
    while seen.len() < COUNT && Instant::now() < deadline {
        for sub in [&mut a, &mut b] {
            if let Some(delivery) = tag.receive(sub.as_mut(), Duration::from_millis(200)).await {
                *seen.entry(delivery.id.clone()).or_default() += 1;
                delivery.ack().await.expect("ack failed");
            }
        }
    }
    assert_eq!(seen.len(), COUNT, "only {} of {COUNT} messages arrived: {seen:?}", seen.len());
    assert!(seen.values().all(|&n| n == 1), "a message was delivered twice: {seen:?}");
    tag.expect_nothing(a.as_mut(), "after compete, first subscriber").await;
    tag.expect_nothing(b.as_mut(), "after compete, second subscriber").await;
}

/// A message reaches subscribers of its own topic only.
pub async fn topics_are_isolated(bus: &dyn MessageBus) {
    let tag = Tag::new();
    let mut poll = subscribe(bus, Topic::Poll).await;
    let mut status = subscribe(bus, Topic::Status).await;
    publish(bus, Topic::Poll, OutgoingMessage::new(tag.id("isolated"), "i")).await;
    tag.expect_nothing(status.as_mut(), "on another topic").await;
    tag.expect(poll.as_mut(), "own topic").await.ack().await.expect("ack failed");
}

async fn publish(bus: &dyn MessageBus, topic: Topic, message: OutgoingMessage) {
    let id = message.id.clone();
    if let Err(err) = bus.publish(topic, message).await {
        panic!("publishing '{id}' to '{}' failed: {err}", topic.as_str());
    }
}

async fn subscribe(bus: &dyn MessageBus, topic: Topic) -> Box<dyn Subscription> {
    match bus.subscribe(topic).await {
        Ok(sub) => sub,
        Err(err) => panic!("subscribing to '{}' failed: {err}", topic.as_str()),
    }
}

/// The id namespace of one check.
struct Tag(String);

impl Tag {
    fn new() -> Self {
        Tag(format!("contract-{}", uuid::Uuid::new_v4().simple()))
    }

    fn id(&self, suffix: &str) -> String {
        format!("{}-{suffix}", self.0)
    }

    /// The next delivery of this check within `within`; others are acked away.
    async fn receive(&self, sub: &mut dyn Subscription, within: Duration) -> Option<Delivery> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let next = tokio::time::timeout_at(deadline, sub.next()).await.ok()?;
            let delivery = match next {
                Ok(Some(delivery)) => delivery,
                Ok(None) => panic!("bus closed while a check was receiving"),
                Err(err) => panic!("receiving failed: {err}"),
            };
            if delivery.id.starts_with(&self.0) {
                return Some(delivery);
            }
            tracing::debug!(id = %delivery.id, "contract check discarding a stray message");
            let _ = delivery.ack().await;
        }
    }

    async fn expect(&self, sub: &mut dyn Subscription, what: &str) -> Delivery {
        match self.receive(sub, ARRIVAL).await {
            Some(delivery) => delivery,
            None => panic!("{what}: no message arrived within {ARRIVAL:?}"),
        }
    }

    async fn expect_nothing(&self, sub: &mut dyn Subscription, what: &str) {
        if let Some(delivery) = self.receive(sub, QUIET).await {
            panic!("{what}: unexpected delivery of '{}' (attempt {})", delivery.id, delivery.attempt);
        }
    }
}
