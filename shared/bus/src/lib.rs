//! The MessageBus port: at-least-once topics with competing consumers, explicit acks,
//! delayed redelivery on nack, and publish-side de-duplication by message id. Backends:
//! in-process (the embedded default), NATS JetStream and Amazon SQS. One contract suite
//! (`contract::run_all`) runs against every backend.

use async_trait::async_trait;
use bytes::Bytes;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

#[cfg(any(test, feature = "testsuite"))]
pub mod contract;
mod memory;
mod nats;
mod sqs;
pub mod sqs_codec;
#[cfg(any(test, feature = "testsuite"))]
pub mod testing;

pub use memory::InProcessBus;
pub use nats::{NatsBus, NatsOptions};
pub use sqs::{SqsBus, SqsEndpoint, SqsOptions};

/// Declares `Topic` from one list: the variants, `Topic::ALL` in that order, each topic's
/// name, and its position, which backends index their per-topic state by. A new topic is
/// one more line in the list below.
macro_rules! topics {
    ($($(#[doc = $doc:literal])* $variant:ident => $name:literal,)+) => {
        /// The topics that chain Airlock's functions.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Topic {
            $($(#[doc = $doc])* $variant,)+
        }

        impl Topic {
            pub const ALL: [Topic; [$($name),+].len()] = [$(Topic::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self {
                    $(Topic::$variant => $name,)+
                }
            }
        }
    };
}

topics! {
    /// scheduler → outbox-publisher
    Publish => "publish",
    /// scheduler / object-store events → manifest-validator
    Poll => "poll",
    /// manifest-validator → inbox-ingester
    Ingest => "ingest",
    /// every stage → status-recorder
    Status => "status",
}

impl Topic {
    /// This topic's position in `Topic::ALL`.
    pub fn index(self) -> usize {
        self as usize
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
    #[error("message '{id}' is too large for topic '{topic}': {size} bytes, the bus takes at most {max}")]
    TooLarge { topic: &'static str, id: String, size: usize, max: usize },
    #[error("unsupported bus URL '{0}': expected nats://host:port, sqs://[host:port]?prefix=name or memory://")]
    UnsupportedUrl(String),
}

/// Header names starting with this (any case) belong to the transport (NATS uses them for
/// de-duplication and stream expectations), so messages may not carry their own.
pub const RESERVED_HEADER_PREFIX: &str = "nats-";

/// Rejects what one backend could not carry faithfully, so every backend accepts the same
/// messages: an empty id, header names that are empty, reserved or not visible ASCII without
/// ':', and header values with line breaks.
pub(crate) fn validate_outgoing(topic: Topic, message: &OutgoingMessage, max_bytes: usize) -> Result<(), BusError> {
    let fail = |reason: String| BusError::Publish { topic: topic.as_str(), reason };
    // Said plainly here rather than left to the transport, which reports an oversized
    // message as a timeout or a dropped connection.
    let size = message.payload.len()
        + message.id.len()
        + message.headers.iter().map(|(name, value)| name.len() + value.len() + 4).sum::<usize>();
    if size > max_bytes {
        return Err(BusError::TooLarge { topic: topic.as_str(), id: message.id.clone(), size, max: max_bytes });
    }
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

/// The largest message (payload, id and headers) NATS takes by default, and what the
/// in-process bus accepts so that it refuses what a deployment would.
pub const NATS_MAX_MESSAGE_BYTES: usize = 1 << 20;
/// SQS's limit on a message, body and attributes together.
pub const SQS_MAX_MESSAGE_BYTES: usize = 256 * 1024;

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

/// Opens a bus from a URL: `memory://` (in-process), `nats://host:port[?prefix=name]`, or
/// `sqs://[host:port][?prefix=name][&region=name]` (AWS's SQS without a host, else an
/// SQS-compatible server over http; credentials from the AWS default chain). The prefix
/// keeps two platforms (or two test runs) on one server apart.
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
    if let Some(rest) = url.strip_prefix("sqs://") {
        let (endpoint, prefix) = parse_sqs_url(url, rest)?;
        return Ok(Arc::new(SqsBus::connect(endpoint, &prefix, SqsOptions::default()).await?));
    }
    Err(BusError::UnsupportedUrl(url.to_owned()))
}

/// Splits `sqs://` URLs (given without the scheme, as `rest`) into endpoint and prefix.
fn parse_sqs_url(url: &str, rest: &str) -> Result<(SqsEndpoint, String), BusError> {
    let (host, query) = rest.split_once('?').unwrap_or((rest, ""));
    let mut endpoint = SqsEndpoint::default();
    let host = host.trim_end_matches('/');
    if !host.is_empty() {
        endpoint.endpoint_url = Some(format!("http://{host}"));
    }
    let mut prefix = "airlock".to_owned();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        match pair.split_once('=') {
            Some(("prefix", value)) => prefix = value.to_owned(),
            Some(("region", value)) => endpoint.region = Some(value.to_owned()),
            _ => {
                return Err(BusError::Connect(format!(
                    "bus url '{url}': unknown parameter '{pair}' (expected prefix= or region=)"
                )))
            }
        }
    }
    Ok((endpoint, prefix))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_topic_sits_at_its_index_under_its_own_name() {
        for (position, topic) in Topic::ALL.iter().enumerate() {
            assert_eq!(topic.index(), position, "{topic:?}");
        }
        let names: std::collections::BTreeSet<&str> = Topic::ALL.iter().map(|t| t.as_str()).collect();
        assert_eq!(names.len(), Topic::ALL.len(), "two topics share a name: {names:?}");
    }

    #[test]
    fn sqs_urls_name_aws_or_a_compatible_server() {
        let (aws, prefix) = parse_sqs_url("u", "?prefix=airlock&region=eu-west-1").unwrap();
        assert_eq!((aws.endpoint_url, aws.region.as_deref(), prefix.as_str()), (None, Some("eu-west-1"), "airlock"));
        let (local, prefix) = parse_sqs_url("u", "127.0.0.1:5000?prefix=x").unwrap();
        assert_eq!((local.endpoint_url.as_deref(), prefix.as_str()), (Some("http://127.0.0.1:5000"), "x"));
        assert_eq!(parse_sqs_url("u", "").unwrap().1, "airlock");
        assert!(parse_sqs_url("u", "?queue=x").is_err());
    }
}
