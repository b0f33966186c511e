//! Running Airlock on one machine: a `Platform` runs every function of one organization
//! in one process, over whatever backends its context names (the embedded default:
//! SQLite, the in-process bus, filesystem stores), and `pair` sets up two platforms that
//! exchange files, for the demo and the end-to-end tests. `serve` runs one platform with
//! its api from a data directory (`airlock serve`), `doctor` checks a deployment, and
//! `cli` is the `airlock` command over them. `bench` is the benchmark behind `airlock-bench`.

pub mod audit;
pub mod bench;
pub mod cli;
pub mod data_dir;
pub mod doctor;
pub mod fleet;
pub mod pair;
pub mod progress;
pub mod serve;

use airlock_bus::DynBus;
use airlock_protocol::MasterKey;
use airlock_repo::{SyncEvent, SyncState};
use airlock_runtime::{run_consumer, Context, Handler, Settings};
use airlock_scheduler::TickSummary;
use airlock_store::NamedStores;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinSet;

pub use airlock_inbox_ingester::InboxIngester;
pub use airlock_manifest_validator::ManifestValidator;
pub use airlock_outbox_publisher::OutboxPublisher;
pub use airlock_status_recorder::StatusRecorder;

#[derive(Debug, thiserror::Error)]
pub enum LocalError {
    #[error("startup failed: {0}")]
    Startup(String),
    /// An operation the platform refused, with its reason.
    #[error("{0}")]
    Refused(String),
    #[error("sync {sync_id} did not finish within {seconds} s (last seen: {last})")]
    SyncTimeout { sync_id: String, seconds: u64, last: String },
    #[error(transparent)]
    Repo(#[from] airlock_repo::RepoError),
    #[error(transparent)]
    Tick(#[from] airlock_scheduler::TickError),
}

/// Builds a context from explicit parts (the embedded default and the tests use this;
/// deployed functions use `Context::from_env`).
pub async fn context(
    settings: Settings,
    master_secret: &str,
    bus: DynBus,
    stores: NamedStores,
) -> Result<Arc<Context>, LocalError> {
    let master = MasterKey::new(master_secret).map_err(|e| LocalError::Startup(e.to_string()))?;
    let repo = airlock_repo::connect(&settings.database_url)
        .await
        .map_err(|e| LocalError::Startup(format!("database '{}': {e}", redact(&settings.database_url))))?;
    Ok(Arc::new(Context { settings, repo, bus, stores, master }))
}

/// One platform's functions, running as tasks of this process until dropped.
pub struct Platform {
    pub name: String,
    pub ctx: Arc<Context>,
    tasks: JoinSet<()>,
}

impl Platform {
    /// Starts the publisher, validator, ingester and recorder consumers (the scheduler is
    /// driven by `tick` here, or by `run_scheduler`).
    pub fn start(name: &str, ctx: Arc<Context>) -> Self {
        let mut platform = Self { name: name.into(), ctx: ctx.clone(), tasks: JoinSet::new() };
        platform.spawn(OutboxPublisher::new(ctx.clone()), 2);
        platform.spawn(ManifestValidator::new(ctx.clone()), 1);
        platform.spawn(InboxIngester::new(ctx.clone()), 2);
        platform.spawn(StatusRecorder::new(ctx), 1);
        platform
    }

    /// The platform's context without functions of its own: they run elsewhere (as
    /// processes of their own), and this process only reads and changes the registry.
    pub fn idle(name: &str, ctx: Arc<Context>) -> Self {
        Self { name: name.into(), ctx, tasks: JoinSet::new() }
    }

    fn spawn<H: Handler>(&mut self, handler: H, concurrency: usize) {
        let bus = self.ctx.bus.clone();
        let attempts = self.ctx.settings.max_attempts;
        let name = self.name.clone();
        self.tasks.spawn(async move {
            if let Err(e) = run_consumer(Arc::new(handler), bus, attempts, concurrency).await {
                tracing::error!(platform = %name, function = H::NAME, error = %e, "consumer stopped");
            }
        });
    }

    /// Runs the scheduler on its interval too.
    pub fn run_scheduler(&mut self) {
        let ctx = self.ctx.clone();
        self.tasks.spawn(async move { airlock_scheduler::run(&ctx).await });
    }

    /// Starts a sync of every active connection now.
    pub async fn tick(&self) -> Result<TickSummary, LocalError> {
        Ok(airlock_scheduler::tick(&self.ctx, None).await?)
    }

    /// Ticks and waits for every sync it started to finish.
    pub async fn sync(&self, timeout: Duration) -> Result<Vec<SyncEvent>, LocalError> {
        let summary = self.tick().await?;
        let mut events = Vec::new();
        for (_, sync_id) in summary.publish.iter().chain(&summary.poll) {
            events.push(self.wait_for_sync(sync_id, timeout).await?);
        }
        Ok(events)
    }

    /// Waits until the sync's event is finished.
    pub async fn wait_for_sync(&self, sync_id: &str, timeout: Duration) -> Result<SyncEvent, LocalError> {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut last = "no event yet".to_string();
        loop {
            // The head only while it runs: a look costs the same however many rows it has.
            if let Some(head) = self.ctx.repo.sync_event_head(sync_id).await? {
                if matches!(head.state, SyncState::Finished(_)) {
                    if let Some(event) = self.ctx.repo.sync_event(sync_id).await? {
                        return Ok(event);
                    }
                }
                last = format!("running, {} of {} row(s)", head.rows, head.pending);
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(LocalError::SyncTimeout { sync_id: sync_id.into(), seconds: timeout.as_secs(), last });
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Platform {
    fn drop(&mut self) {
        self.tasks.abort_all();
    }
}

/// A database URL without its password, for messages.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let credentials = &url[scheme_end + 3..at];
            match credentials.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme_end + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn redact_hides_only_the_password() {
        assert_eq!(super::redact("postgres://u:pw@h:5432/db"), "postgres://u:***@h:5432/db");
        assert_eq!(super::redact("sqlite://a.db"), "sqlite://a.db");
    }
}
