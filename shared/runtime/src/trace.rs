use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry::trace::TraceContextExt;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use rand::RngCore;
use std::collections::BTreeMap;
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// The W3C header carrying a message's trace.
pub const TRACEPARENT: &str = "traceparent";

/// W3C trace context (`traceparent`), carried in every message so one sync is one trace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TraceContext {
    pub trace_id: String,
    pub span_id: String,
}

impl TraceContext {
    pub fn new_root() -> Self {
        Self { trace_id: random_hex(16), span_id: random_hex(8) }
    }

    /// A new span in the same trace.
    pub fn child(&self) -> Self {
        Self { trace_id: self.trace_id.clone(), span_id: random_hex(8) }
    }

    pub fn parse(traceparent: &str) -> Option<Self> {
        let parts: Vec<&str> = traceparent.trim().split('-').collect();
        let hex = |s: &str, len: usize| s.len() == len && s.bytes().all(|b| b.is_ascii_hexdigit());
        match parts.as_slice() {
            [version, trace, span, _flags] if hex(version, 2) && hex(trace, 32) && hex(span, 16) => {
                Some(Self { trace_id: trace.to_ascii_lowercase(), span_id: span.to_ascii_lowercase() })
            }
            _ => None,
        }
    }

    pub fn traceparent(&self) -> String {
        format!("00-{}-{}-01", self.trace_id, self.span_id)
    }

    /// The OpenTelemetry ids of a tracing span; `None` when no OpenTelemetry layer is
    /// installed (or the span is filtered out), so callers fall back to their own ids.
    pub fn of_span(span: &tracing::Span) -> Option<Self> {
        let cx = span.context();
        let span = cx.span();
        let ids = span.span_context();
        ids.is_valid().then(|| Self { trace_id: ids.trace_id().to_string(), span_id: ids.span_id().to_string() })
    }
}

/// Makes `span` the continuation of the trace named by a message's headers (W3C
/// `traceparent`/`tracestate`). Without a valid `traceparent`, the span starts a new trace.
/// Does nothing when no OpenTelemetry layer is installed.
pub fn continue_trace(span: &tracing::Span, headers: &BTreeMap<String, String>) {
    let remote = TraceContextPropagator::new().extract(&Headers(headers));
    // Failing means no OpenTelemetry layer sees this span: there is nothing to link then.
    let _ = span.set_parent(remote);
}

/// The trace headers of an outgoing message sent on behalf of `trace`. The current span
/// becomes the receiver's parent when it belongs to that trace (a handler or the scheduler
/// publishing inside its span); otherwise, as without OpenTelemetry, a new span id of
/// `trace` stands in for the sender.
pub fn outgoing_headers(trace: &TraceContext) -> BTreeMap<String, String> {
    let current = tracing::Span::current();
    let mut headers = BTreeMap::new();
    match TraceContext::of_span(&current) {
        Some(ids) if ids.trace_id == trace.trace_id => {
            TraceContextPropagator::new().inject_context(&current.context(), &mut HeadersMut(&mut headers));
        }
        _ => {
            headers.insert(TRACEPARENT.to_owned(), trace.child().traceparent());
        }
    }
    headers
}

struct Headers<'a>(&'a BTreeMap<String, String>);

impl Extractor for Headers<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(String::as_str).collect()
    }
}

struct HeadersMut<'a>(&'a mut BTreeMap<String, String>);

impl Injector for HeadersMut<'_> {
    fn set(&mut self, key: &str, value: String) {
        self.0.insert(key.to_owned(), value);
    }
}

fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::thread_rng().fill_bytes(&mut buf);
    buf.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn child_keeps_the_trace_and_round_trips() {
        let root = TraceContext::new_root();
        let child = root.child();
        assert_eq!(child.trace_id, root.trace_id);
        assert_ne!(child.span_id, root.span_id);
        assert_eq!(TraceContext::parse(&child.traceparent()), Some(child));
        assert_eq!(TraceContext::parse("00-xyz-1-01"), None);
    }
}
