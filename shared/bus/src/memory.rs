//! The in-process backend: one shared queue per topic inside this process. It gives the same
//! guarantees as the networked backends (competing consumers, redelivery until acked,
//! de-duplication by id) so the embedded platform and the tests behave like production.

use crate::{validate_outgoing, Acker, BusError, Delivery, MessageBus, OutgoingMessage, Subscription, Topic};
use async_trait::async_trait;
use bytes::Bytes;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::Notify;
use tokio::time::Instant;

/// How long a delivery may stay unsettled before it is handed out again.
pub const DEFAULT_ACK_WAIT: Duration = Duration::from_secs(30);
/// How long a message id is remembered for publish-side de-duplication (JetStream's default).
pub const DEDUPE_WINDOW: Duration = Duration::from_secs(120);

/// An at-least-once bus living in this process. Clones share the same queues.
#[derive(Clone, Debug)]
pub struct InProcessBus {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    queues: [TopicQueue; Topic::ALL.len()],
    ack_wait: Duration,
    dedupe_window: Duration,
    /// Woken whenever a delivery is settled, so `wait_idle` sleeps instead of polling.
    settled: Notify,
}

#[derive(Debug, Default)]
struct TopicQueue {
    state: Mutex<QueueState>,
    /// Woken whenever the set of ready or scheduled messages changes.
    changed: Notify,
}

#[derive(Debug, Default)]
struct QueueState {
    ready: VecDeque<Envelope>,
    /// Nacked messages waiting out their delay, ordered by due time (the u64 breaks ties).
    delayed: BTreeMap<(Instant, u64), Envelope>,
    in_flight: HashMap<u64, InFlight>,
    next_token: u64,
    seen: HashMap<String, Instant>,
    seen_order: VecDeque<(Instant, String)>,
}

#[derive(Clone, Debug)]
struct Envelope {
    id: String,
    headers: BTreeMap<String, String>,
    payload: Bytes,
    attempt: u32,
}

#[derive(Debug)]
struct InFlight {
    deadline: Instant,
    envelope: Envelope,
}

impl InProcessBus {
    pub fn new() -> Self {
        Self::with_ack_wait(DEFAULT_ACK_WAIT)
    }

    /// A bus whose unsettled deliveries come back after `ack_wait` instead of 30 s.
    pub fn with_ack_wait(ack_wait: Duration) -> Self {
        let shared =
            Shared { queues: Default::default(), ack_wait, dedupe_window: DEDUPE_WINDOW, settled: Notify::new() };
        Self { shared: Arc::new(shared) }
    }

    /// Messages of `topic` not yet acked: queued, waiting out a nack delay, or in flight.
    pub fn pending(&self, topic: Topic) -> usize {
        self.shared.queue(topic).lock().pending()
    }

    /// Waits until no topic has anything pending; false if that did not happen within
    /// `timeout`.
    pub async fn wait_idle(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            let settled = self.shared.settled.notified();
            tokio::pin!(settled);
            // Registered before checking, so a settle between check and await still wakes us.
            settled.as_mut().enable();
            if self.is_idle() {
                return true;
            }
            tokio::select! {
                _ = settled => {}
                _ = tokio::time::sleep_until(deadline) => return self.is_idle(),
            }
        }
    }

    fn is_idle(&self) -> bool {
        Topic::ALL.iter().all(|&topic| self.pending(topic) == 0)
    }
}

impl Default for InProcessBus {
    fn default() -> Self {
        Self::new()
    }
}

impl Shared {
    fn queue(&self, topic: Topic) -> &TopicQueue {
        &self.queues[topic.index()]
    }
}

impl TopicQueue {
    fn lock(&self) -> MutexGuard<'_, QueueState> {
        // No code panics while holding the lock, and the queue stays consistent regardless.
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl QueueState {
    fn pending(&self) -> usize {
        self.ready.len() + self.delayed.len() + self.in_flight.len()
    }

    /// Remembers `id`; false when it was already seen within `window`.
    fn first_sighting(&mut self, id: &str, now: Instant, window: Duration) -> bool {
        while let Some((seen_at, _)) = self.seen_order.front() {
            if now.duration_since(*seen_at) < window {
                break;
            }
            if let Some((seen_at, old)) = self.seen_order.pop_front() {
                if self.seen.get(&old) == Some(&seen_at) {
                    self.seen.remove(&old);
                }
            }
        }
        if self.seen.contains_key(id) {
            return false;
        }
        self.seen.insert(id.to_owned(), now);
        self.seen_order.push_back((now, id.to_owned()));
        true
    }

    /// Moves nacked messages whose delay is over, and deliveries whose ack deadline passed,
    /// back to the ready queue.
    fn requeue_due(&mut self, topic: Topic, now: Instant) {
        while let Some(entry) = self.delayed.first_entry() {
            if entry.key().0 > now {
                break;
            }
            self.ready.push_back(entry.remove());
        }
        let expired: Vec<u64> =
            self.in_flight.iter().filter(|(_, flight)| flight.deadline <= now).map(|(&token, _)| token).collect();
        for token in expired {
            if let Some(flight) = self.in_flight.remove(&token) {
                let mut envelope = flight.envelope;
                tracing::warn!(
                    topic = topic.as_str(),
                    id = %envelope.id,
                    attempt = envelope.attempt,
                    "ack deadline passed without ack or nack, redelivering"
                );
                envelope.attempt += 1;
                self.ready.push_back(envelope);
            }
        }
    }

    /// When the next scheduled message or ack deadline falls due, if any.
    fn next_due(&self) -> Option<Instant> {
        let delayed = self.delayed.keys().next().map(|(due, _)| *due);
        let deadline = self.in_flight.values().map(|flight| flight.deadline).min();
        match (delayed, deadline) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn token(&mut self) -> u64 {
        self.next_token += 1;
        self.next_token
    }
}

#[async_trait]
impl MessageBus for InProcessBus {
    async fn publish(&self, topic: Topic, message: OutgoingMessage) -> Result<(), BusError> {
        validate_outgoing(topic, &message, crate::NATS_MAX_MESSAGE_BYTES)?;
        let queue = self.shared.queue(topic);
        {
            let mut state = queue.lock();
            if !state.first_sighting(&message.id, Instant::now(), self.shared.dedupe_window) {
                tracing::debug!(topic = topic.as_str(), id = %message.id, "dropping duplicate publish");
                return Ok(());
            }
            state.ready.push_back(Envelope {
                id: message.id,
                headers: message.headers,
                payload: message.payload,
                attempt: 1,
            });
        }
        queue.changed.notify_waiters();
        Ok(())
    }

    async fn subscribe(&self, topic: Topic) -> Result<Box<dyn Subscription>, BusError> {
        Ok(Box::new(InProcessSubscription { shared: self.shared.clone(), topic }))
    }
}

struct InProcessSubscription {
    shared: Arc<Shared>,
    topic: Topic,
}

#[async_trait]
impl Subscription for InProcessSubscription {
    async fn next(&mut self) -> Result<Option<Delivery>, BusError> {
        let queue = self.shared.queue(self.topic);
        loop {
            let changed = queue.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            // Taking a message happens without an await, so dropping this future (a select!
            // or timeout around next()) never loses one.
            let wake_at = {
                let mut state = queue.lock();
                let now = Instant::now();
                state.requeue_due(self.topic, now);
                if let Some(envelope) = state.ready.pop_front() {
                    let token = state.token();
                    let deadline = now + self.shared.ack_wait;
                    state.in_flight.insert(token, InFlight { deadline, envelope: envelope.clone() });
                    return Ok(Some(self.delivery(token, envelope)));
                }
                state.next_due()
            };
            match wake_at {
                Some(due) => tokio::select! {
                    _ = changed => {}
                    _ = tokio::time::sleep_until(due) => {}
                },
                None => changed.await,
            }
        }
    }
}

impl InProcessSubscription {
    fn delivery(&self, token: u64, envelope: Envelope) -> Delivery {
        let acker = InProcessAcker {
            shared: self.shared.clone(),
            topic: self.topic,
            token,
            id: envelope.id.clone(),
            settled: AtomicBool::new(false),
        };
        Delivery {
            id: envelope.id,
            headers: envelope.headers,
            payload: envelope.payload,
            attempt: envelope.attempt,
            acker: Box::new(acker),
        }
    }
}

struct InProcessAcker {
    shared: Arc<Shared>,
    topic: Topic,
    token: u64,
    id: String,
    settled: AtomicBool,
}

impl InProcessAcker {
    /// Ends this delivery: removes it, and with `redeliver_after` puts it back for another
    /// attempt after that delay.
    fn settle(&self, redeliver_after: Option<Duration>) {
        if self.settled.swap(true, Ordering::AcqRel) {
            return;
        }
        let queue = self.shared.queue(self.topic);
        {
            let mut state = queue.lock();
            let Some(flight) = state.in_flight.remove(&self.token) else {
                // Its ack deadline passed and it was already handed out again; that newer
                // delivery now decides its fate.
                tracing::warn!(
                    topic = self.topic.as_str(),
                    id = %self.id,
                    "settling a delivery whose ack deadline already passed, ignored"
                );
                return;
            };
            if let Some(delay) = redeliver_after {
                let mut envelope = flight.envelope;
                envelope.attempt += 1;
                if delay.is_zero() {
                    state.ready.push_back(envelope);
                } else {
                    let tie = state.token();
                    state.delayed.insert((Instant::now() + delay, tie), envelope);
                }
            }
        }
        // Also on a delayed requeue: waiting subscribers must learn the new due time.
        queue.changed.notify_waiters();
        self.shared.settled.notify_waiters();
    }
}

#[async_trait]
impl Acker for InProcessAcker {
    async fn ack(&self) -> Result<(), BusError> {
        self.settle(None);
        Ok(())
    }

    async fn nack(&self, delay: Duration) -> Result<(), BusError> {
        self.settle(Some(delay));
        Ok(())
    }

    async fn in_progress(&self) -> Result<(), BusError> {
        let queue = self.shared.queue(self.topic);
        let mut state = queue.lock();
        match state.in_flight.get_mut(&self.token) {
            Some(flight) => {
                flight.deadline = Instant::now() + self.shared.ack_wait;
                Ok(())
            }
            None => Err(BusError::Ack { id: self.id.clone(), reason: "delivery is no longer in flight".into() }),
        }
    }
}

impl Drop for InProcessAcker {
    fn drop(&mut self) {
        if !self.settled.load(Ordering::Acquire) {
            tracing::debug!(
                topic = self.topic.as_str(),
                id = %self.id,
                "delivery dropped without ack or nack, redelivering"
            );
            self.settle(Some(Duration::ZERO));
        }
    }
}
