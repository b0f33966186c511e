//! Logging and OpenTelemetry tracing for every function.
//!
//! Log lines are written as before, filtered by `AIRLOCK_LOG_LEVEL` (or `RUST_LOG`). When an
//! OTLP endpoint is configured with the standard variables (`OTEL_EXPORTER_OTLP_ENDPOINT` or
//! `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) and `OTEL_SDK_DISABLED` is not `true`, spans are also
//! exported over OTLP HTTP/protobuf. The SDK and exporter read the rest of the standard
//! variables themselves: `OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`,
//! `OTEL_TRACES_SAMPLER(_ARG)`, `OTEL_EXPORTER_OTLP_(TRACES_)HEADERS`, `…_TIMEOUT`,
//! `OTEL_BSP_*`.

use opentelemetry::trace::TracerProvider as _;
use opentelemetry::KeyValue;
use opentelemetry_http::{Bytes, HttpClient, HttpError, Request, Response};
use opentelemetry_otlp::{WithExportConfig as _, WithHttpConfig as _};
use opentelemetry_sdk::trace::{SdkTracerProvider, SpanExporter};
use opentelemetry_sdk::Resource;
use std::sync::OnceLock;
use std::time::Duration;
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::{EnvFilter, Layer as _};

/// The provider behind the installed layer, kept so that `shutdown` can flush it.
static PROVIDER: OnceLock<SdkTracerProvider> = OnceLock::new();

#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    #[error("a global tracing subscriber is already installed")]
    AlreadyInstalled,
}

/// Logging plus, when configured, OTLP export; the service is named after this executable
/// (`airlock-scheduler`, `airlock-demo`, …) unless `OTEL_SERVICE_NAME` says otherwise.
pub fn init_logging() {
    let exe = std::env::current_exe().ok().and_then(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()));
    init_function(exe.as_deref().unwrap_or("function"));
}

/// Like `init_logging`, for a known function: the default service name is `airlock-<function>`.
/// Does nothing when a global subscriber is already installed (a test, or a second call).
pub fn init_function(function: &str) {
    let service = service_name(function);
    let exporter = if otlp_configured() { Some(otlp_exporter()) } else { None };
    let (provider, failure) = match exporter {
        Some(Ok(exporter)) => (
            Some(SdkTracerProvider::builder().with_resource(resource(&service)).with_batch_exporter(exporter).build()),
            None,
        ),
        Some(Err(e)) => (None, Some(e)),
        None => (None, None),
    };
    if install(&service, provider).is_ok() {
        if let Some(e) = failure {
            // The function still runs: losing traces must not stop file transfers.
            tracing::warn!(error = %e, "OTLP span export not started");
        }
    }
}

/// Installs logging with spans going to `exporter` as each one ends (no batching), so a test
/// sees them at once; used with `opentelemetry_sdk`'s `InMemorySpanExporter`. Fails when the
/// process already has a global subscriber: a test that needs this belongs in its own binary.
pub fn init_with_exporter<E: SpanExporter + 'static>(function: &str, exporter: E) -> Result<(), TelemetryError> {
    let service = service_name(function);
    let provider =
        SdkTracerProvider::builder().with_resource(resource(&service)).with_simple_exporter(exporter).build();
    install(&service, Some(provider))
}

/// Exports the spans buffered so far. A Lambda calls this before returning from each
/// invocation: a frozen process would otherwise hold them until its next invocation.
pub fn flush() {
    if let Some(provider) = PROVIDER.get() {
        if let Err(e) = provider.force_flush() {
            tracing::warn!(error = %e, "flushing spans failed");
        }
    }
}

/// Exports the spans still buffered and stops the exporter; call before the process exits.
pub fn shutdown() {
    if let Some(provider) = PROVIDER.get() {
        if let Err(e) = provider.shutdown() {
            tracing::warn!(error = %e, "flushing spans at exit failed");
        }
    }
}

fn install(service: &str, provider: Option<SdkTracerProvider>) -> Result<(), TelemetryError> {
    let filter = std::env::var("AIRLOCK_LOG_LEVEL")
        .or_else(|_| std::env::var("RUST_LOG"))
        .unwrap_or_else(|_| "info".into())
        .to_ascii_lowercase();
    // Colours only on a terminal: a container's or CI's log must not fill with escape codes.
    let fmt = tracing_subscriber::fmt::layer()
        .with_target(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
        .with_filter(EnvFilter::new(filter));
    // Spans get their own filter: a quiet log level (the demo runs at `error`) must not
    // drop the info-level spans a trace is made of.
    let otel = provider.as_ref().map(|provider| {
        tracing_opentelemetry::layer().with_tracer(provider.tracer(service.to_owned())).with_filter(LevelFilter::INFO)
    });
    tracing_subscriber::registry().with(fmt).with(otel).try_init().map_err(|_| TelemetryError::AlreadyInstalled)?;
    if let Some(provider) = provider {
        opentelemetry::global::set_tracer_provider(provider.clone());
        let _ = PROVIDER.set(provider);
    }
    Ok(())
}

fn otlp_configured() -> bool {
    let set = |name: &str| std::env::var(name).map(|v| !v.trim().is_empty()).unwrap_or(false);
    let disabled = std::env::var("OTEL_SDK_DISABLED").map(|v| v.trim().eq_ignore_ascii_case("true")).unwrap_or(false);
    !disabled && (set("OTEL_EXPORTER_OTLP_ENDPOINT") || set("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"))
}

fn service_name(function: &str) -> String {
    if function.starts_with("airlock-") {
        function.to_owned()
    } else {
        format!("airlock-{function}")
    }
}

/// The SDK's resource (OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES, SDK attributes), with our
/// service name in place of the SDK's `unknown_service` when neither variable names one.
fn resource(service: &str) -> Resource {
    let detected = Resource::builder().build();
    let named = detected
        .get(&opentelemetry::Key::new("service.name"))
        .map(|v| !v.as_str().starts_with("unknown_service"))
        .unwrap_or(false);
    if named {
        detected
    } else {
        Resource::builder().with_attributes([KeyValue::new("service.name", service.to_owned())]).build()
    }
}

fn otlp_exporter() -> Result<opentelemetry_otlp::SpanExporter, opentelemetry_otlp::ExporterBuildError> {
    let timeout = export_timeout();
    opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_timeout(timeout)
        .with_http_client(OwnRuntimeClient::new(timeout))
        .build()
}

/// OTEL_EXPORTER_OTLP_TRACES_TIMEOUT or OTEL_EXPORTER_OTLP_TIMEOUT in milliseconds; 10 s by default.
fn export_timeout() -> Duration {
    ["OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "OTEL_EXPORTER_OTLP_TIMEOUT"]
        .iter()
        .find_map(|name| std::env::var(name).ok()?.trim().parse::<u64>().ok())
        .map(Duration::from_millis)
        .unwrap_or(Duration::from_secs(10))
}

/// The exporter's HTTP client: the workspace's reqwest (no second HTTP stack, TLS included),
/// driven by a one-thread runtime of its own. The SDK's batch processor blocks a plain thread
/// on each export, where an async client has no reactor; handing the request to this runtime
/// works whatever runtime the function uses, and cannot deadlock a current-thread one.
#[derive(Debug)]
struct OwnRuntimeClient {
    client: reqwest::Client,
    runtime: Option<tokio::runtime::Runtime>,
}

impl OwnRuntimeClient {
    fn new(timeout: Duration) -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("otlp-export")
            .enable_all()
            .build()
            .ok();
        let client = reqwest::Client::builder().timeout(timeout).build().unwrap_or_default();
        Self { client, runtime }
    }
}

#[async_trait::async_trait]
impl HttpClient for OwnRuntimeClient {
    async fn send_bytes(&self, request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
        let runtime = self.runtime.as_ref().ok_or("the OTLP export runtime could not be started")?;
        let request = reqwest::Request::try_from(request)?;
        let client = self.client.clone();
        let sent = runtime.spawn(async move {
            let response = client.execute(request).await?;
            let (status, headers) = (response.status(), response.headers().clone());
            let mut out = Response::new(response.bytes().await?);
            *out.status_mut() = status;
            *out.headers_mut() = headers;
            Ok::<_, reqwest::Error>(out)
        });
        Ok(sent.await??)
    }
}

impl Drop for OwnRuntimeClient {
    fn drop(&mut self) {
        // Dropping a runtime blocks, which panics inside async code; this never blocks.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_names_are_prefixed_once() {
        assert_eq!(service_name("scheduler"), "airlock-scheduler");
        assert_eq!(service_name("airlock-demo"), "airlock-demo");
    }
}
