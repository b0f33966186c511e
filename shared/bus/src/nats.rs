//! The NATS JetStream backend. Each topic is a work-queue stream `{PREFIX}_{TOPIC}` on subject
//! `{prefix}.{topic}`, read through one durable pull consumer `{prefix}_{topic}` that every
//! subscriber shares, which is what makes subscribers compete. De-duplication is JetStream's
//! own, keyed by the `Nats-Msg-Id` header within the stream's duplicate window.

use crate::{
    validate_outgoing, Acker, BusError, Delivery, MessageBus, OutgoingMessage, Subscription, Topic,
    RESERVED_HEADER_PREFIX,
};
use async_nats::header::NATS_MESSAGE_ID;
use async_nats::jetstream::consumer::pull::{self, MessagesErrorKind};
use async_nats::jetstream::consumer::{AckPolicy, DeliverPolicy, PullConsumer};
use async_nats::jetstream::context::Publish;
use async_nats::jetstream::message::Acker as JetStreamAcker;
use async_nats::jetstream::stream::{self, RetentionPolicy, StorageType};
use async_nats::jetstream::{self, AckKind};
use async_nats::HeaderMap;
use async_trait::async_trait;
use futures::StreamExt;
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

/// Matches the in-process bus so both backends forget ids after the same time.
const DUPLICATE_WINDOW: Duration = Duration::from_secs(120);

/// Tunables of [`NatsBus`]; build with `NatsOptions { ack_wait, ..Default::default() }`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NatsOptions {
    /// How long the server waits for an ack before redelivering. Only applies when this bus
    /// creates the consumer; an existing durable consumer keeps its own setting.
    pub ack_wait: Duration,
    /// Keep streams in server memory instead of on disk: faster, but a server restart loses
    /// queued messages, so only for tests and throwaway setups.
    pub memory_storage: bool,
}

impl Default for NatsOptions {
    fn default() -> Self {
        Self { ack_wait: Duration::from_secs(30), memory_storage: false }
    }
}

#[derive(Clone, Debug)]
pub struct NatsBus {
    jetstream: jetstream::Context,
    prefix: String,
    options: NatsOptions,
}

impl NatsBus {
    pub async fn connect(server_url: &str, prefix: &str) -> Result<NatsBus, BusError> {
        Self::connect_with(server_url, prefix, NatsOptions::default()).await
    }

    /// Connects and makes sure every topic's stream exists.
    pub async fn connect_with(server_url: &str, prefix: &str, options: NatsOptions) -> Result<NatsBus, BusError> {
        let prefix = sanitize_prefix(prefix)?;
        let client = async_nats::ConnectOptions::new()
            .name("airlock-bus")
            .connection_timeout(Duration::from_secs(5))
            .connect(server_url)
            .await
            .map_err(|err| BusError::Connect(format!("cannot connect to nats server '{server_url}': {err}")))?;
        let bus = NatsBus { jetstream: jetstream::new(client), prefix, options };
        for topic in Topic::ALL {
            bus.ensure_stream(topic).await?;
        }
        tracing::info!(server = server_url, prefix = %bus.prefix, "connected to nats jetstream");
        Ok(bus)
    }

    /// Deletes this prefix's streams (and with them their consumers and messages), for test
    /// cleanup. Failures are logged, not returned, so cleanup goes on with the next stream.
    pub async fn delete_streams(&self) {
        for topic in Topic::ALL {
            let name = self.stream_name(topic);
            if let Err(err) = self.jetstream.delete_stream(&name).await {
                tracing::warn!(stream = %name, error = %err, "deleting jetstream stream failed");
            }
        }
    }

    fn stream_name(&self, topic: Topic) -> String {
        format!("{}_{}", self.prefix, topic.as_str()).to_uppercase()
    }

    fn subject(&self, topic: Topic) -> String {
        format!("{}.{}", self.prefix, topic.as_str())
    }

    fn consumer_name(&self, topic: Topic) -> String {
        format!("{}_{}", self.prefix, topic.as_str())
    }

    async fn ensure_stream(&self, topic: Topic) -> Result<stream::Stream, BusError> {
        let name = self.stream_name(topic);
        let config = stream::Config {
            name: name.clone(),
            subjects: vec![self.subject(topic)],
            retention: RetentionPolicy::WorkQueue,
            storage: if self.options.memory_storage { StorageType::Memory } else { StorageType::File },
            duplicate_window: DUPLICATE_WINDOW,
            ..Default::default()
        };
        self.jetstream
            .get_or_create_stream(config)
            .await
            .map_err(|err| BusError::Connect(format!("creating jetstream stream '{name}' failed: {err}")))
    }
}

/// Keeps only [A-Za-z0-9_] (others become '_') and lowercases, so the prefix is valid in
/// subjects and stream names and "Foo" and "foo" cannot collide on the uppercased stream name.
fn sanitize_prefix(prefix: &str) -> Result<String, BusError> {
    let clean: String =
        prefix.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '_' }).collect();
    if clean.trim_matches('_').is_empty() {
        return Err(BusError::Connect(format!("bus prefix '{prefix}' has no letters or digits to name streams with")));
    }
    Ok(clean)
}

#[async_trait]
impl MessageBus for NatsBus {
    async fn publish(&self, topic: Topic, message: OutgoingMessage) -> Result<(), BusError> {
        validate_outgoing(topic, &message, crate::NATS_MAX_MESSAGE_BYTES)?;
        let fail = |reason: String| BusError::Publish { topic: topic.as_str(), reason };
        let mut headers = HeaderMap::new();
        for (name, value) in &message.headers {
            headers.insert(name.as_str(), value.as_str());
        }
        // message_id after headers: headers() replaces the whole map.
        let publish = Publish::build().payload(message.payload).headers(headers).message_id(&message.id);
        let ack = self
            .jetstream
            .send_publish(self.subject(topic), publish)
            .await
            .map_err(|err| fail(format!("sending message '{}': {err}", message.id)))?
            .await
            .map_err(|err| fail(format!("awaiting stream ack for message '{}': {err}", message.id)))?;
        if ack.duplicate {
            tracing::debug!(topic = topic.as_str(), id = %message.id, "server dropped duplicate publish");
        }
        Ok(())
    }

    async fn subscribe(&self, topic: Topic) -> Result<Box<dyn Subscription>, BusError> {
        let fail = |reason: String| BusError::Receive { topic: topic.as_str(), reason };
        let stream = self.ensure_stream(topic).await?;
        let name = self.consumer_name(topic);
        let config = pull::Config {
            durable_name: Some(name.clone()),
            ack_policy: AckPolicy::Explicit,
            ack_wait: self.options.ack_wait,
            deliver_policy: DeliverPolicy::All,
            max_deliver: -1,
            ..Default::default()
        };
        let consumer: PullConsumer = stream
            .get_or_create_consumer(&name, config)
            .await
            .map_err(|err| fail(format!("creating consumer '{name}': {err}")))?;
        // One message per pull: a subscriber only asks for the next message when its handler
        // asks, so it never hoards messages that an idle competitor could be working on.
        let messages = consumer
            .stream()
            .max_messages_per_batch(1)
            .messages()
            .await
            .map_err(|err| fail(format!("opening pull stream on consumer '{name}': {err}")))?;
        Ok(Box::new(NatsSubscription { topic, messages }))
    }
}

struct NatsSubscription {
    topic: Topic,
    messages: pull::Stream,
}

#[async_trait]
impl Subscription for NatsSubscription {
    async fn next(&mut self) -> Result<Option<Delivery>, BusError> {
        loop {
            match self.messages.next().await {
                None => return Ok(None),
                Some(Ok(message)) => return Ok(Some(delivery(message))),
                // The client reconnects and re-issues pulls by itself; a missed heartbeat is
                // only worth a log line.
                Some(Err(err)) if err.kind() == MessagesErrorKind::MissingHeartbeat => {
                    tracing::warn!(topic = self.topic.as_str(), error = %err, "pull stream missed a heartbeat");
                }
                Some(Err(err)) => {
                    return Err(BusError::Receive { topic: self.topic.as_str(), reason: err.to_string() })
                }
            }
        }
    }
}

fn delivery(message: jetstream::Message) -> Delivery {
    let (attempt, fallback_id) = match message.info() {
        Ok(info) => (
            u32::try_from(info.delivered).unwrap_or(u32::MAX).max(1),
            format!("{}-{}", info.stream, info.stream_sequence),
        ),
        Err(err) => {
            tracing::warn!(error = %err, "jetstream message without delivery info, assuming first attempt");
            (1, String::new())
        }
    };
    let (message, acker) = message.split();
    let mut id = None;
    let mut headers = BTreeMap::new();
    for (name, values) in message.headers.iter().flat_map(|map| map.iter()) {
        let name: &str = name.as_ref();
        let Some(value) = values.last() else { continue };
        if name.eq_ignore_ascii_case(NATS_MESSAGE_ID.as_ref()) {
            id = Some(value.as_str().to_owned());
        } else if !name.to_ascii_lowercase().starts_with(RESERVED_HEADER_PREFIX) {
            headers.insert(name.to_owned(), value.as_str().to_owned());
        }
    }
    // Only a message published around this bus lacks the id header; the stream position
    // still identifies it uniquely.
    let id = id.unwrap_or(fallback_id);
    Delivery {
        id: id.clone(),
        headers,
        payload: message.payload,
        attempt,
        acker: Box::new(NatsAcker { id, acker: Mutex::new(Some(acker)) }),
    }
}

struct NatsAcker {
    id: String,
    /// Taken by the first settle, so Drop knows whether one happened.
    acker: Mutex<Option<JetStreamAcker>>,
}

impl NatsAcker {
    fn take(&self) -> Option<JetStreamAcker> {
        self.acker.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).take()
    }

    fn already_settled(&self) -> BusError {
        BusError::Ack { id: self.id.clone(), reason: "delivery was already settled".to_owned() }
    }
}

#[async_trait]
impl Acker for NatsAcker {
    async fn ack(&self) -> Result<(), BusError> {
        let acker = self.take().ok_or_else(|| self.already_settled())?;
        // Double ack waits for the server to confirm, so an acked message is really gone.
        acker.double_ack().await.map_err(|err| BusError::Ack { id: self.id.clone(), reason: err.to_string() })
    }

    async fn nack(&self, delay: Duration) -> Result<(), BusError> {
        let acker = self.take().ok_or_else(|| self.already_settled())?;
        let delay = (!delay.is_zero()).then_some(delay);
        acker
            .ack_with(AckKind::Nak(delay))
            .await
            .map_err(|err| BusError::Ack { id: self.id.clone(), reason: format!("nak failed: {err}") })
    }

    async fn in_progress(&self) -> Result<(), BusError> {
        // Taken and put back: the caller holds the delivery, so nothing settles it meanwhile.
        let acker = self.take().ok_or_else(|| self.already_settled())?;
        let result = acker.ack_with(AckKind::Progress).await;
        *self.acker.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(acker);
        result.map_err(|err| BusError::Ack { id: self.id.clone(), reason: format!("progress ack failed: {err}") })
    }
}

impl Drop for NatsAcker {
    fn drop(&mut self) {
        let Some(acker) = self.take() else { return };
        let id = std::mem::take(&mut self.id);
        // A nak now beats waiting out the ack deadline; without a runtime the deadline does it.
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                tracing::debug!(%id, "delivery dropped without ack or nack, naking it");
                runtime.spawn(async move {
                    if let Err(err) = acker.ack_with(AckKind::Nak(None)).await {
                        tracing::warn!(%id, error = %err, "nak of dropped delivery failed; redelivery waits for the ack deadline");
                    }
                });
            }
            Err(_) => {
                tracing::warn!(%id, "delivery dropped outside a tokio runtime; redelivery waits for the ack deadline")
            }
        }
    }
}
