//! The MessageBus port: at-least-once topics with competing consumers, explicit acks,
//! delayed redelivery on nack, and publish-side de-duplication by message id. Backends:
//! in-process (the embedded default) and NATS JetStream; SQS joins them later. One contract
//! suite (`contract::run_all`) runs against every backend.

use async_trait::async_trait;
use bytes::Bytes;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

pub mod contract;
mod memory;
mod nats;
pub mod testing;

pub use memory::InProcessBus;
pub use nats::{NatsBus, NatsOptions};

/// The topics that chain Airlock's functions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Topic {
    /// scheduler → outbox-publisher
    Publish,
    /// scheduler / object-store events → manifest-validator
    Poll,
    /// manifest-validator → inbox-ingester
    Ingest,
    /// every stage → status-recorder
    Status,
}

impl Topic {
    pub const ALL: [Topic; 4] = [Topic::Publish, Topic::Poll, Topic::Ingest, Topic::Status];

    pub fn as_str(self) -> &'static str {
        match self {
            Topic::Publish => "publish",
            Topic::Poll => "poll",
            Topic::Ingest => "ingest",
            Topic::Status => "status",
        }
    }
}

/// A message to publish. `id` de-duplicates: a second publish with an id already seen within
/// the bus's window is accepted and dropped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutgoingMessage {
    pub id: String,
    pub headers: BTreeMap<String, String>,
    pub payload: Bytes,
}

impl OutgoingMessage {
    pub fn new(id: impl Into<String>, payload: impl Into<Bytes>) -> Self {
        Self { id: id.into(), headers: BTreeMap::new(), payload: payload.into() }
    }

    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.insert(name.into(), value.into());
        self
    }
}

#[derive(Debug, thiserror::Error)]
pub enum BusError {
    #[error("message bus connection failed: {0}")]
    Connect(String),
    #[error("publish to topic '{topic}' failed: {reason}")]
    Publish { topic: &'static str, reason: String },
    #[error("receive from topic '{topic}' failed: {reason}")]
    Receive { topic: &'static str, reason: String },
    #[error("acknowledging message '{id}' failed: {reason}")]
    Ack { id: String, reason: String },
    #[error("unsupported bus URL '{0}': expected nats://host:port or memory://")]
    UnsupportedUrl(String),
}

/// Header names starting with this (any case) belong to the transport (NATS uses them for
/// de-duplication and stream expectations), so messages may not carry their own.
pub const RESERVED_HEADER_PREFIX: &str = "nats-";

/// Rejects what one backend could not carry faithfully, so every backend accepts the same
/// messages: an empty id, header names that are empty, reserved or not visible ASCII without
/// ':', and header values with line breaks.
pub(crate) fn validate_outgoing(topic: Topic, message: &OutgoingMessage) -> Result<(), BusError> {
    let fail = |reason: String| BusError::Publish { topic: topic.as_str(), reason };
    if message.id.is_empty() {
        return Err(fail("message id is empty".to_owned()));
    }
    for (name, value) in &message.headers {
        let printable = name.bytes().all(|b| b.is_ascii_graphic() && b != b':');
        if name.is_empty() || !printable {
            return Err(fail(format!("header name '{name}' must be non-empty visible ascii without ':'")));
        }
        if name.len() >= RESERVED_HEADER_PREFIX.len()
            && name[..RESERVED_HEADER_PREFIX.len()].eq_ignore_ascii_case(RESERVED_HEADER_PREFIX)
        {
            return Err(fail(format!("header name '{name}' uses the reserved 'Nats-' prefix")));
        }
        if value.contains(['\r', '\n']) {
            return Err(fail(format!("value of header '{name}' contains a line break")));
        }
    }
    Ok(())
}

/// How a backend settles one delivery.
#[async_trait]
pub trait Acker: Send + Sync {
    async fn ack(&self) -> Result<(), BusError>;
    /// Puts the message back, to be delivered again after `delay`.
    async fn nack(&self, delay: Duration) -> Result<(), BusError>;
    /// Tells the bus the delivery is still being worked on, so its ack deadline starts
    /// again: a handler moving a large file may take longer than one deadline.
    async fn in_progress(&self) -> Result<(), BusError> {
        Ok(())
    }
}

pub struct Delivery {
    pub id: String,
    pub headers: BTreeMap<String, String>,
    pub payload: Bytes,
    /// 1 on first delivery, then 2, 3, …
    pub attempt: u32,
    pub acker: Box<dyn Acker>,
}

impl Delivery {
    pub async fn ack(self) -> Result<(), BusError> {
        self.acker.ack().await
    }

    pub async fn nack(self, delay: Duration) -> Result<(), BusError> {
        self.acker.nack(delay).await
    }

    pub async fn in_progress(&self) -> Result<(), BusError> {
        self.acker.in_progress().await
    }
}

impl std::fmt::Debug for Delivery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Delivery").field("id", &self.id).field("attempt", &self.attempt).finish()
    }
}

#[async_trait]
pub trait Subscription: Send {
    /// Waits for the next delivery; `Ok(None)` only when the bus was closed.
    async fn next(&mut self) -> Result<Option<Delivery>, BusError>;
}

#[async_trait]
pub trait MessageBus: Send + Sync + 'static {
    async fn publish(&self, topic: Topic, message: OutgoingMessage) -> Result<(), BusError>;
    /// Joins the topic's one consumer group: each message goes to one subscriber at a time
    /// until acked; an unacked delivery (nack, or no ack within the ack deadline) comes back.
    async fn subscribe(&self, topic: Topic) -> Result<Box<dyn Subscription>, BusError>;
}

pub type DynBus = Arc<dyn MessageBus>;

/// Opens a bus from a URL: `memory://` (in-process) or `nats://host:port[?prefix=name]`.
/// The prefix keeps two platforms (or two test runs) on one NATS server apart.
pub async fn connect(url: &str) -> Result<DynBus, BusError> {
    if url == "memory://" || url == "in-process" {
        return Ok(Arc::new(InProcessBus::new()));
    }
    if url.starts_with("nats://") {
        let (server, prefix) = match url.split_once("?prefix=") {
            Some((server, prefix)) => (server, prefix.to_owned()),
            None => (url, "airlock".to_owned()),
        };
        return Ok(Arc::new(NatsBus::connect(server, &prefix).await?));
    }
    Err(BusError::UnsupportedUrl(url.to_owned()))
}
