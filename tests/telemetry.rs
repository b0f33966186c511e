//! One sync is one trace. With spans going to an in-memory exporter, a real exchange between
//! two platforms shows every stage of a sync in the trace its scheduler span started, linked
//! parent to child through the messages, and every sync in a trace of its own.
//!
//! A test binary of its own: it installs the process's global tracing subscriber.

use airlock_domain::Health;
use airlock_local::pair::{Pair, PairSetup};
use airlock_tests::{cad_bytes, finished};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SpanData};
use std::collections::HashSet;
use std::time::Duration;

const PUBLISHER: &str = "handle outbox-publisher";
const VALIDATOR: &str = "handle manifest-validator";
const INGESTER: &str = "handle inbox-ingester";
const RECORDER: &str = "handle status-recorder";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_stage_of_a_sync_shares_its_trace() -> anyhow::Result<()> {
    let exporter = InMemorySpanExporter::default();
    airlock_runtime::telemetry::init_with_exporter("tests", exporter.clone())?;
    let dir = tempfile::tempdir()?;
    let pair = Pair::start(PairSetup::embedded(dir.path())).await?;
    for (name, content) in [("a.bin", cad_bytes(100_000)), ("b.txt", b"two".to_vec()), ("c.txt", b"three".to_vec())] {
        let file = pair.upload(name, "PUBLIC", &[], &content).await?;
        pair.share(&file.id).await?;
    }

    let (sent, received) = pair.sync().await?;
    assert_eq!((finished(&sent), finished(&received)), (Health::Success, Health::Success));
    assert_eq!(received.updated, 3);
    // A publishes and reports its start and its end; B validates and ingests the three files
    // in one batch, and reports twice (the validation's end, the batch's rows).
    let sent_trace = sync_trace(&exporter, &sent.sync_id, &[(PUBLISHER, 1), (RECORDER, 2)]).await?;
    let received_trace =
        sync_trace(&exporter, &received.sync_id, &[(VALIDATOR, 1), (INGESTER, 1), (RECORDER, 2)]).await?;
    let spans = exporter.get_finished_spans()?;
    for span in spans.iter().filter(|s| [VALIDATOR, INGESTER].contains(&s.name.as_ref())) {
        assert_eq!(span.span_context.trace_id().to_string(), received_trace, "{} outside B's sync trace", span.name);
    }

    // Nothing changed: both sides still run a sync each, each in a new trace.
    let (sent_again, received_again) = pair.sync().await?;
    let again = [
        sync_trace(&exporter, &sent_again.sync_id, &[(PUBLISHER, 1), (RECORDER, 2)]).await?,
        sync_trace(&exporter, &received_again.sync_id, &[(VALIDATOR, 1), (RECORDER, 1)]).await?,
    ];
    let all: HashSet<&String> = [&sent_trace, &received_trace, &again[0], &again[1]].into_iter().collect();
    assert_eq!(all.len(), 4, "every sync has its own trace");
    Ok(())
}

/// The trace of one sync, once the handler spans it is expected to hold have all ended:
/// found by the scheduler's root span for the sync, and checked to be one tree under it
/// whose spans carry the same trace id in their `trace_id` attribute (the handlers' `meta.trace`).
async fn sync_trace(
    exporter: &InMemorySpanExporter,
    sync_id: &str,
    expected: &[(&str, usize)],
) -> anyhow::Result<String> {
    // Handler spans end after the handler's work (and its ack), so they can trail the
    // recorder's "finished" that `sync` waited for.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let spans = exporter.get_finished_spans()?;
        let root = spans.iter().find(|s| s.name == "sync" && attribute(s, "sync_id") == Some(sync_id.to_owned()));
        if let Some(root) = root {
            let trace_id = root.span_context.trace_id();
            let in_trace: Vec<&SpanData> = spans.iter().filter(|s| s.span_context.trace_id() == trace_id).collect();
            // Messages, not spans: a retried delivery adds a span in the same trace.
            let count = |name: &str| {
                in_trace
                    .iter()
                    .filter(|s| s.name == name)
                    .map(|s| attribute(s, "message_id"))
                    .collect::<HashSet<_>>()
                    .len()
            };
            if expected.iter().all(|(name, n)| count(name) >= *n) {
                for (name, n) in expected {
                    assert_eq!(count(name), *n, "{name} messages in the trace of sync {sync_id}");
                }
                assert_one_tree(root, &in_trace);
                return Ok(trace_id.to_string());
            }
        }
        if tokio::time::Instant::now() >= deadline {
            let names: Vec<String> =
                spans.iter().map(|s| format!("{} {}", s.name, s.span_context.trace_id())).collect();
            anyhow::bail!("the spans of sync {sync_id} did not all arrive; finished spans: {names:#?}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Every span but the root has its parent in the trace, and every handler span reports the
/// OpenTelemetry trace id as its own.
fn assert_one_tree(root: &SpanData, spans: &[&SpanData]) {
    let ids: HashSet<_> = spans.iter().map(|s| s.span_context.span_id()).collect();
    let trace_id = root.span_context.trace_id().to_string();
    for span in spans.iter().filter(|s| s.span_context.span_id() != root.span_context.span_id()) {
        assert!(ids.contains(&span.parent_span_id), "{} is not linked to a span of its sync", span.name);
        if span.name.starts_with("handle ") {
            assert_eq!(attribute(span, "trace_id"), Some(trace_id.clone()), "{}'s meta.trace", span.name);
        }
    }
}

fn attribute(span: &SpanData, key: &str) -> Option<String> {
    span.attributes.iter().find(|kv| kv.key.as_str() == key).map(|kv| kv.value.as_str().into_owned())
}
