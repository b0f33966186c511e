//! How a bus message travels as an SQS message. The SQS bus and the Lambda entry (which
//! receives the same SQS messages as event records) both decode with this, so a message
//! means the same whichever way it is consumed.
//!
//! - The body is the payload when it is text SQS can carry, else its base64 with the
//!   `airlock-body-encoding` attribute saying so (SQS bodies are restricted XML text and
//!   never empty).
//! - The bus message id rides in the `airlock-id` attribute; the SQS de-duplication id and
//!   group id are derived from it ([`dedupe_id`]).
//! - Each header is a String message attribute of the same name, except that headers with
//!   an empty value (SQS refuses empty attributes) are listed in `airlock-empty-headers`.
//!   SQS allows ten attributes in all (the id, and the encoding or the empty-header list
//!   when needed, among them) and names of `[A-Za-z0-9_.-]`; messages that do not fit are
//!   refused at publish.

use crate::{BusError, OutgoingMessage, Topic};
use base64::Engine;
use bytes::Bytes;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

pub const ID_ATTRIBUTE: &str = "airlock-id";
pub const ENCODING_ATTRIBUTE: &str = "airlock-body-encoding";
/// Names the headers whose value is empty, which SQS refuses as attribute values.
pub const EMPTY_HEADERS_ATTRIBUTE: &str = "airlock-empty-headers";
const MAX_ATTRIBUTES: usize = 10;
/// SQS's limit on de-duplication and group ids.
const MAX_DEDUPE_ID: usize = 128;

/// What is sent: body, attributes (including the id), and the de-duplication id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedMessage {
    pub body: String,
    pub attributes: BTreeMap<String, String>,
    pub dedupe_id: String,
}

/// A message as read back from SQS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodedMessage {
    pub id: String,
    pub headers: BTreeMap<String, String>,
    pub payload: Bytes,
}

/// The SQS de-duplication (and group) id for a bus message id: the id itself when SQS
/// accepts it (at most 128 of its allowed characters), else its SHA-256 in hex, which keeps
/// equal ids equal.
pub fn dedupe_id(id: &str) -> String {
    let allowed =
        id.len() <= MAX_DEDUPE_ID && id.bytes().all(|b| b.is_ascii_alphanumeric() || b.is_ascii_punctuation());
    if allowed {
        id.to_owned()
    } else {
        hex::encode(Sha256::digest(id.as_bytes()))
    }
}

pub fn encode(topic: Topic, message: &OutgoingMessage) -> Result<EncodedMessage, BusError> {
    let fail = |reason: String| BusError::Publish { topic: topic.as_str(), reason };
    let mut attributes = BTreeMap::new();
    let mut empty = Vec::new();
    for (name, value) in &message.headers {
        if [ID_ATTRIBUTE, ENCODING_ATTRIBUTE, EMPTY_HEADERS_ATTRIBUTE].contains(&name.as_str()) {
            return Err(fail(format!("header name '{name}' is reserved by the sqs bus")));
        }
        if !is_attribute_name(name) {
            return Err(fail(format!("header name '{name}' is not a valid sqs attribute name ([A-Za-z0-9_.-])")));
        }
        if !value.chars().all(is_sqs_text) {
            return Err(fail(format!("value of header '{name}' has characters sqs cannot carry")));
        }
        if value.is_empty() {
            empty.push(name.as_str());
        } else {
            attributes.insert(name.clone(), value.clone());
        }
    }
    if !empty.is_empty() {
        // Attribute names cannot hold ',', so it separates names safely.
        attributes.insert(EMPTY_HEADERS_ATTRIBUTE.to_owned(), empty.join(","));
    }
    if !message.id.chars().all(is_sqs_text) {
        return Err(fail(format!("message id '{}' has characters sqs cannot carry", message.id.escape_debug())));
    }
    attributes.insert(ID_ATTRIBUTE.to_owned(), message.id.clone());
    let text = std::str::from_utf8(&message.payload).ok().filter(|t| !t.is_empty() && t.chars().all(is_sqs_text));
    let body = match text {
        Some(text) => text.to_owned(),
        None => {
            attributes.insert(ENCODING_ATTRIBUTE.to_owned(), "base64".to_owned());
            // An empty payload still needs a non-empty body; "=" is no valid base64 of
            // anything else, and decodes back to nothing below.
            if message.payload.is_empty() {
                "=".to_owned()
            } else {
                base64::engine::general_purpose::STANDARD.encode(&message.payload)
            }
        }
    };
    if attributes.len() > MAX_ATTRIBUTES {
        return Err(fail(format!(
            "message '{}' has {} headers; with its id and encoding that is more than the {MAX_ATTRIBUTES} attributes sqs carries",
            message.id,
            message.headers.len()
        )));
    }
    Ok(EncodedMessage { body, attributes, dedupe_id: dedupe_id(&message.id) })
}

/// Reads a message back. One published around the bus (without the id attribute) is named
/// by `fallback_id`, the SQS message id; a body that claims base64 but is not is passed on
/// as it is, for the handler to refuse.
pub fn decode(body: &str, mut attributes: BTreeMap<String, String>, fallback_id: &str) -> DecodedMessage {
    let id = attributes.remove(ID_ATTRIBUTE).unwrap_or_else(|| fallback_id.to_owned());
    if let Some(names) = attributes.remove(EMPTY_HEADERS_ATTRIBUTE) {
        for name in names.split(',').filter(|name| !name.is_empty()) {
            attributes.insert(name.to_owned(), String::new());
        }
    }
    let payload = match attributes.remove(ENCODING_ATTRIBUTE).as_deref() {
        Some("base64") if body == "=" => Bytes::new(),
        Some("base64") => match base64::engine::general_purpose::STANDARD.decode(body) {
            Ok(bytes) => Bytes::from(bytes),
            Err(err) => {
                tracing::warn!(%id, error = %err, "sqs body marked base64 does not decode, passing it on raw");
                Bytes::copy_from_slice(body.as_bytes())
            }
        },
        _ => Bytes::copy_from_slice(body.as_bytes()),
    };
    DecodedMessage { id, headers: attributes, payload }
}

/// The characters SQS accepts in bodies and string attributes (XML 1.0 text).
fn is_sqs_text(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r') || (c >= ' ' && c != '\u{FFFE}' && c != '\u{FFFF}')
}

fn is_attribute_name(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    name.len() <= 256
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
        && !name.starts_with('.')
        && !name.ends_with('.')
        && !name.contains("..")
        && !lower.starts_with("aws.")
        && !lower.starts_with("amazon.")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(message: OutgoingMessage) -> DecodedMessage {
        let encoded = encode(Topic::Ingest, &message).expect("encodes");
        decode(&encoded.body, encoded.attributes, "sqs-id")
    }

    #[test]
    fn text_binary_and_empty_payloads_survive() {
        for payload in [&b"{\"a\":1}"[..], &b"\x00\xffbin"[..], &b""[..]] {
            let sent = OutgoingMessage::new("m-1", payload.to_vec())
                .with_header("traceparent", "00-ab-cd-01")
                .with_header("tracestate", "")
                .with_header("baggage", "");
            let got = round_trip(sent.clone());
            assert_eq!((got.id, got.headers, got.payload), (sent.id, sent.headers, sent.payload));
        }
    }

    #[test]
    fn long_or_odd_ids_get_a_stable_dedupe_id() {
        assert_eq!(dedupe_id("tick:c1:42"), "tick:c1:42");
        let long = "x".repeat(200);
        assert_eq!(dedupe_id(&long).len(), 64);
        assert_eq!(dedupe_id(&long), dedupe_id(&long));
        assert_ne!(dedupe_id("with space"), "with space");
    }

    #[test]
    fn headers_sqs_cannot_carry_are_refused() {
        for name in ["a/b", "AWS.trace", "airlock-id"] {
            let message = OutgoingMessage::new("m", "p").with_header(name, "v");
            assert!(encode(Topic::Status, &message).is_err(), "'{name}' accepted");
        }
        let headers = |count: usize, payload: &'static [u8]| {
            (0..count).fold(OutgoingMessage::new("m", payload), |m, n| m.with_header(format!("h{n}"), "v"))
        };
        assert!(encode(Topic::Status, &headers(9, b"p")).is_ok(), "nine headers and the id fit in ten attributes");
        assert!(encode(Topic::Status, &headers(9, b"\xff")).is_err(), "no room left for the body's encoding");
        assert!(encode(Topic::Status, &headers(10, b"p")).is_err(), "ten headers accepted");
    }

    #[test]
    fn a_message_sent_around_the_bus_is_named_by_its_sqs_id() {
        let got = decode("{}", BTreeMap::new(), "sqs-123");
        assert_eq!((got.id.as_str(), &got.payload[..]), ("sqs-123", &b"{}"[..]));
    }
}
