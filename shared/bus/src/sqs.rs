//! The Amazon SQS backend. Each topic is a FIFO queue `{prefix}-{topic}.fifo`, created when
//! missing. FIFO for its de-duplication: the message id (see `sqs_codec::dedupe_id`) is the
//! de-duplication id, and also the group id, so that every message is its own group and
//! none waits behind another. Competing consumers are SQS's own: a received message is
//! invisible to others until deleted (ack) or its visibility timeout ends (nack, crash).

use crate::sqs_codec::{self, DecodedMessage};
use crate::{validate_outgoing, Acker, BusError, Delivery, MessageBus, OutgoingMessage, Subscription, Topic};
use async_trait::async_trait;
use aws_sdk_sqs::error::DisplayErrorContext;
use aws_sdk_sqs::operation::receive_message::ReceiveMessageOutput;
use aws_sdk_sqs::types::{MessageAttributeValue, MessageSystemAttributeName, QueueAttributeName};
use aws_sdk_sqs::Client;
use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;
use std::time::Duration;

/// SQS's longest visibility timeout (12 hours), the cap on a nack delay.
const MAX_VISIBILITY_SECS: u64 = 43_200;
/// Receive failures in a row before a subscription gives up and reports the error.
const RECEIVE_RETRIES: u32 = 5;

/// Where the queues live and how to sign requests.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SqsEndpoint {
    /// An SQS-compatible server (moto, ElasticMQ); AWS's regional endpoint when unset.
    pub endpoint_url: Option<String>,
    /// The region; the AWS default chain (`AWS_REGION`, profile) when unset.
    pub region: Option<String>,
    /// Static access key and secret; the AWS default credential chain when unset.
    pub credentials: Option<(String, String)>,
}

/// Tunables of [`SqsBus`]; build with `SqsOptions { visibility_timeout, ..Default::default() }`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SqsOptions {
    /// How long a received message stays hidden from other consumers before it returns
    /// unacked, and how far `in_progress` extends it. The queue setting only applies to
    /// queues this bus creates; existing queues keep theirs.
    pub visibility_timeout: Duration,
    /// How long one receive call waits for a message (long polling, at most 20 s).
    pub wait_time: Duration,
}

impl Default for SqsOptions {
    fn default() -> Self {
        Self { visibility_timeout: Duration::from_secs(30), wait_time: Duration::from_secs(20) }
    }
}

#[derive(Clone, Debug)]
pub struct SqsBus {
    client: Client,
    prefix: String,
    /// Queue URL per topic, in `Topic::ALL` order.
    queue_urls: Vec<String>,
    options: SqsOptions,
}

impl SqsBus {
    /// Connects and makes sure every topic's queue exists.
    pub async fn connect(endpoint: SqsEndpoint, prefix: &str, options: SqsOptions) -> Result<SqsBus, BusError> {
        let prefix = sanitize_prefix(prefix)?;
        let client = endpoint.client().await;
        let mut queue_urls = Vec::new();
        for topic in Topic::ALL {
            queue_urls.push(ensure_queue(&client, &queue_name(&prefix, topic), &options).await?);
        }
        tracing::info!(endpoint = ?endpoint.endpoint_url, %prefix, "connected to sqs");
        Ok(SqsBus { client, prefix, queue_urls, options })
    }

    /// The queue name of a topic under a prefix: `{prefix}-{topic}.fifo`.
    pub fn queue_name(&self, topic: Topic) -> String {
        queue_name(&self.prefix, topic)
    }

    pub fn queue_url(&self, topic: Topic) -> &str {
        &self.queue_urls[topic.index()]
    }

    /// Deletes this prefix's queues, for test cleanup. Failures are logged, not returned,
    /// so cleanup goes on with the next queue.
    pub async fn delete_queues(&self) {
        for url in &self.queue_urls {
            if let Err(err) = self.client.delete_queue().queue_url(url).send().await {
                tracing::warn!(queue = %url, error = %DisplayErrorContext(&err), "deleting sqs queue failed");
            }
        }
    }
}

impl SqsEndpoint {
    /// An SQS client for this endpoint, as the bus uses it.
    pub async fn client(&self) -> Client {
        client(self).await
    }
}

async fn client(endpoint: &SqsEndpoint) -> Client {
    // Ring rather than the SDK's default aws-lc keeps a C toolchain and cmake out of the build.
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
            aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
        ))
        .build_https();
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest()).http_client(http);
    if let Some(url) = &endpoint.endpoint_url {
        loader = loader.endpoint_url(url);
    }
    if let Some(region) = &endpoint.region {
        loader = loader.region(aws_config::Region::new(region.clone()));
    }
    if let Some((key, secret)) = &endpoint.credentials {
        loader = loader.credentials_provider(aws_sdk_sqs::config::Credentials::new(
            key,
            secret,
            None,
            None,
            "airlock-static",
        ));
    }
    Client::new(&loader.load().await)
}

/// Keeps [A-Za-z0-9_-] (others become '-'), and at most what leaves room for the longest
/// topic and `.fifo` within SQS's 80-character queue names.
fn sanitize_prefix(prefix: &str) -> Result<String, BusError> {
    let clean: String = prefix.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' { c } else { '-' }).collect();
    let longest_suffix = Topic::ALL.iter().map(|t| t.as_str().len()).max().unwrap_or(0) + "-.fifo".len();
    if clean.trim_matches(['-', '_']).is_empty() {
        return Err(BusError::Connect(format!("bus prefix '{prefix}' has no letters or digits to name queues with")));
    }
    if clean.len() + longest_suffix > 80 {
        return Err(BusError::Connect(format!(
            "bus prefix '{prefix}' is longer than the {} characters sqs queue names leave for it",
            80 - longest_suffix
        )));
    }
    Ok(clean)
}

fn queue_name(prefix: &str, topic: Topic) -> String {
    format!("{prefix}-{}.fifo", topic.as_str())
}

async fn ensure_queue(client: &Client, name: &str, options: &SqsOptions) -> Result<String, BusError> {
    let fail = |what: &str, err: &dyn std::error::Error| {
        BusError::Connect(format!("{what} sqs queue '{name}' failed: {}", DisplayErrorContext(err)))
    };
    match client.get_queue_url().queue_name(name).send().await {
        Ok(found) => return Ok(found.queue_url().unwrap_or_default().to_owned()),
        Err(err) if err.as_service_error().is_some_and(|e| e.is_queue_does_not_exist()) => {}
        Err(err) => return Err(fail("looking up", &err)),
    }
    let created = client
        .create_queue()
        .queue_name(name)
        .attributes(QueueAttributeName::FifoQueue, "true")
        .attributes(QueueAttributeName::ContentBasedDeduplication, "false")
        .attributes(QueueAttributeName::VisibilityTimeout, options.visibility_timeout.as_secs().max(1).to_string())
        .send()
        .await
        .map_err(|err| fail("creating", &err))?;
    tracing::info!(queue = name, "created sqs queue");
    Ok(created.queue_url().unwrap_or_default().to_owned())
}

#[async_trait]
impl MessageBus for SqsBus {
    async fn publish(&self, topic: Topic, message: OutgoingMessage) -> Result<(), BusError> {
        validate_outgoing(topic, &message, crate::SQS_MAX_MESSAGE_BYTES)?;
        let encoded = sqs_codec::encode(topic, &message)?;
        let mut send = self
            .client
            .send_message()
            .queue_url(self.queue_url(topic))
            .message_body(encoded.body)
            .message_deduplication_id(&encoded.dedupe_id)
            .message_group_id(&encoded.dedupe_id);
        for (name, value) in encoded.attributes {
            let value = MessageAttributeValue::builder()
                .data_type("String")
                .string_value(value)
                .build()
                .expect("data type is set");
            send = send.message_attributes(name, value);
        }
        send.send().await.map_err(|err| BusError::Publish {
            topic: topic.as_str(),
            reason: format!("sending message '{}': {}", message.id, DisplayErrorContext(&err)),
        })?;
        Ok(())
    }

    async fn subscribe(&self, topic: Topic) -> Result<Box<dyn Subscription>, BusError> {
        Ok(Box::new(SqsSubscription {
            topic,
            client: self.client.clone(),
            queue_url: self.queue_url(topic).to_owned(),
            wait_secs: self.options.wait_time.as_secs().clamp(1, 20) as i32,
            visibility_timeout: self.options.visibility_timeout,
            pending: None,
        }))
    }
}

type Receive = Pin<Box<dyn Future<Output = Result<ReceiveMessageOutput, String>> + Send>>;

struct SqsSubscription {
    topic: Topic,
    client: Client,
    queue_url: String,
    wait_secs: i32,
    visibility_timeout: Duration,
    /// The receive call in flight. Kept across `next` calls so that a caller who stops
    /// waiting (a timeout) does not abandon a call that may already have taken a message
    /// off the queue: the next `next` picks up that same call.
    pending: Option<Receive>,
}

impl SqsSubscription {
    fn receive(&self) -> Receive {
        let call = self
            .client
            .receive_message()
            .queue_url(&self.queue_url)
            // One at a time, so a subscriber never hides messages an idle competitor could take.
            .max_number_of_messages(1)
            .wait_time_seconds(self.wait_secs)
            .message_attribute_names("All")
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount);
        Box::pin(async move { call.send().await.map_err(|err| DisplayErrorContext(&err).to_string()) })
    }
}

#[async_trait]
impl Subscription for SqsSubscription {
    async fn next(&mut self) -> Result<Option<Delivery>, BusError> {
        let mut failures = 0;
        loop {
            let call = match self.pending.as_mut() {
                Some(call) => call,
                None => self.pending.insert(self.receive()),
            };
            let outcome = call.as_mut().await;
            self.pending = None;
            match outcome {
                Ok(output) => {
                    failures = 0;
                    if let Some(message) = output.messages.unwrap_or_default().into_iter().next() {
                        return Ok(Some(self.delivery(message)));
                    }
                }
                Err(reason) if failures + 1 < RECEIVE_RETRIES => {
                    failures += 1;
                    tracing::warn!(topic = self.topic.as_str(), error = %reason, failures, "sqs receive failed, retrying");
                    tokio::time::sleep(Duration::from_millis(500 * u64::from(failures))).await;
                }
                Err(reason) => return Err(BusError::Receive { topic: self.topic.as_str(), reason }),
            }
        }
    }
}

impl SqsSubscription {
    fn delivery(&self, message: aws_sdk_sqs::types::Message) -> Delivery {
        let attempt = message
            .attributes()
            .and_then(|system| system.get(&MessageSystemAttributeName::ApproximateReceiveCount))
            .and_then(|count| count.parse::<u32>().ok())
            .unwrap_or(1)
            .max(1);
        let attributes: BTreeMap<String, String> = message
            .message_attributes()
            .into_iter()
            .flatten()
            .filter_map(|(name, value)| Some((name.clone(), value.string_value()?.to_owned())))
            .collect();
        let DecodedMessage { id, headers, payload } =
            sqs_codec::decode(message.body().unwrap_or_default(), attributes, message.message_id().unwrap_or_default());
        let acker = SqsAcker {
            id: id.clone(),
            client: self.client.clone(),
            queue_url: self.queue_url.clone(),
            visibility_timeout: self.visibility_timeout,
            receipt: Mutex::new(message.receipt_handle().map(str::to_owned)),
        };
        Delivery { id, headers, payload, attempt, acker: Box::new(acker) }
    }
}

struct SqsAcker {
    id: String,
    client: Client,
    queue_url: String,
    /// What `in_progress` restarts the hidden time with.
    visibility_timeout: Duration,
    /// Taken by the first settle, so Drop knows whether one happened.
    receipt: Mutex<Option<String>>,
}

impl SqsAcker {
    fn take(&self) -> Result<String, BusError> {
        let receipt = self.receipt.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).take();
        receipt.ok_or_else(|| self.already_settled())
    }

    fn already_settled(&self) -> BusError {
        BusError::Ack { id: self.id.clone(), reason: "delivery was already settled".to_owned() }
    }
}

/// Hides a received message for `delay` from now (whole seconds, rounded up, as SQS counts);
/// zero makes it visible at once.
async fn set_visibility(client: &Client, queue_url: &str, receipt: &str, delay: Duration) -> Result<(), String> {
    let secs = delay.as_secs() + u64::from(delay.subsec_nanos() > 0);
    client
        .change_message_visibility()
        .queue_url(queue_url)
        .receipt_handle(receipt)
        .visibility_timeout(secs.min(MAX_VISIBILITY_SECS) as i32)
        .send()
        .await
        .map(|_| ())
        .map_err(|err| DisplayErrorContext(&err).to_string())
}

#[async_trait]
impl Acker for SqsAcker {
    async fn ack(&self) -> Result<(), BusError> {
        let receipt = self.take()?;
        self.client
            .delete_message()
            .queue_url(&self.queue_url)
            .receipt_handle(receipt)
            .send()
            .await
            .map(|_| ())
            .map_err(|err| BusError::Ack { id: self.id.clone(), reason: DisplayErrorContext(&err).to_string() })
    }

    async fn nack(&self, delay: Duration) -> Result<(), BusError> {
        let receipt = self.take()?;
        set_visibility(&self.client, &self.queue_url, &receipt, delay).await.map_err(|reason| BusError::Ack {
            id: self.id.clone(),
            reason: format!("changing visibility failed: {reason}"),
        })
    }

    async fn in_progress(&self) -> Result<(), BusError> {
        let receipt = self.receipt.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).clone();
        let receipt = receipt.ok_or_else(|| self.already_settled())?;
        // The new timeout counts from now, which is what restarting the deadline means in SQS.
        set_visibility(&self.client, &self.queue_url, &receipt, self.visibility_timeout).await.map_err(|reason| {
            BusError::Ack { id: self.id.clone(), reason: format!("extending visibility failed: {reason}") }
        })
    }
}

impl Drop for SqsAcker {
    fn drop(&mut self) {
        let Ok(receipt) = self.take() else { return };
        let (id, client, queue_url) = (std::mem::take(&mut self.id), self.client.clone(), self.queue_url.clone());
        // Releasing now beats waiting out the visibility timeout; without a runtime the timeout does it.
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                tracing::debug!(%id, "delivery dropped without ack or nack, releasing it");
                runtime.spawn(async move {
                    if let Err(err) = set_visibility(&client, &queue_url, &receipt, Duration::ZERO).await {
                        tracing::warn!(%id, error = %err, "releasing dropped delivery failed; it returns after the visibility timeout");
                    }
                });
            }
            Err(_) => {
                tracing::warn!(%id, "delivery dropped outside a tokio runtime; it returns after the visibility timeout")
            }
        }
    }
}
