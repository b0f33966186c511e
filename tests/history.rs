//! A history that is never lost: status reports survive the database being away, a large
//! stage end travels in bounded messages, and no sync stays running past its deadline.

use airlock_bus::{Acker, BusError, Delivery, InProcessBus, Topic};
use airlock_domain::pipeline::{ResourceOutcome, ResourceRow, StatusEvent, StatusReport};
use airlock_domain::{new_id, now_millis, ConnectionKind, Health};
use airlock_local::StatusRecorder;
use airlock_protocol::MasterKey;
use airlock_repo::testing::FlakyRepository;
use airlock_repo::{DynRepository, SyncState};
use airlock_runtime::consumer::settle;
use airlock_runtime::{Context, Settings, TraceContext};
use airlock_store::NamedStores;
use async_trait::async_trait;
use std::sync::{Arc, Mutex};
use std::time::Duration;

async fn context(dir: &tempfile::TempDir, wrap: impl FnOnce(DynRepository) -> DynRepository) -> Arc<Context> {
    let url = format!("sqlite://{}", dir.path().join("b.db").display());
    let repo = wrap(airlock_repo::connect(&url).await.unwrap());
    let settings = Settings { database_url: url, sync_deadline: Duration::from_secs(10), ..Settings::default() };
    let master = MasterKey::new(&"m".repeat(40)).unwrap();
    Arc::new(Context { settings, repo, bus: Arc::new(InProcessBus::new()), stores: NamedStores::default(), master })
}

/// Notes how a delivery was settled.
struct Noting(Arc<Mutex<Vec<&'static str>>>);

#[async_trait]
impl Acker for Noting {
    async fn ack(&self) -> Result<(), BusError> {
        self.0.lock().unwrap().push("ack");
        Ok(())
    }
    async fn nack(&self, _delay: Duration) -> Result<(), BusError> {
        self.0.lock().unwrap().push("nack");
        Ok(())
    }
}

fn report(sync_id: &str, at: i64, event: StatusEvent) -> StatusReport {
    StatusReport { sync_id: sync_id.into(), connection_id: new_id(), kind: ConnectionKind::Receiving, at, event }
}

/// The database is away for eight deliveries of a report, longer than the 5 attempts
/// other work gets: the recorder keeps the report (nack, never a give-up) and records it
/// once the database is back.
#[tokio::test]
async fn a_report_outlives_the_database_being_away() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let flaky = Arc::new(std::sync::OnceLock::new());
    let keep = flaky.clone();
    let ctx = context(&dir, move |inner| {
        let repo = Arc::new(FlakyRepository::new(inner, 8));
        let _ = keep.set(repo.clone());
        repo
    })
    .await;
    assert_eq!(ctx.settings.max_attempts, 5);
    let recorder = StatusRecorder::new(ctx.clone());
    let sync_id = new_id();
    let end = StatusEvent::StageFinished { failed: false, message: "applied".into(), pending: 0, resources: vec![] };
    let payload = serde_json::to_vec(&report(&sync_id, now_millis(), end))?;

    let verdicts = Arc::new(Mutex::new(Vec::new()));
    for attempt in 1..=9 {
        let delivery = Delivery {
            id: format!("status:{sync_id}:validate"),
            headers: Default::default(),
            payload: payload.clone().into(),
            attempt,
            acker: Box::new(Noting(verdicts.clone())),
        };
        settle(&recorder, delivery, ctx.settings.max_attempts).await?;
    }
    let mut expected = vec!["nack"; 8];
    expected.push("ack");
    assert_eq!(*verdicts.lock().unwrap(), expected, "kept while the database was away, then recorded");
    assert_eq!(flaky.get().unwrap().failures_left(), 0);
    let event = ctx.repo.sync_event(&sync_id).await?.expect("the report was recorded");
    assert_eq!((event.state, event.message.as_str()), (SyncState::Finished(Health::Success), "applied"));
    Ok(())
}

/// A stage end with 1,234 rows (some with long messages) goes out as several messages,
/// each well under the buses' limits, and folds into one finished event with every row.
#[tokio::test]
async fn a_large_stage_end_travels_in_bounded_messages() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let ctx = context(&dir, |repo| repo).await;
    let sync_id = new_id();
    let rows: Vec<ResourceRow> = (0..1_234)
        .map(|i| ResourceRow {
            resource_id: new_id(),
            name: format!("part-{i:04}.step"),
            outcome: if i % 100 == 0 { ResourceOutcome::Failed } else { ResourceOutcome::Updated },
            message: if i % 10 == 0 { "x".repeat(2_000) } else { format!("published revision {i}") },
        })
        .collect();
    let sync = (sync_id.as_str(), "c", ConnectionKind::Sending);
    let trace = TraceContext::new_root();
    ctx.send_stage_end(&trace, sync, (false, "published".into(), 0), rows, "publish").await;

    let recorder = StatusRecorder::new(ctx.clone());
    let mut subscription = ctx.bus.subscribe(Topic::Status).await?;
    let mut messages = 0;
    while let Ok(next) = tokio::time::timeout(Duration::from_millis(300), subscription.next()).await {
        let Some(delivery) = next? else { break };
        assert!(delivery.payload.len() <= 256 * 1024, "a status message of {} bytes", delivery.payload.len());
        messages += 1;
        settle(&recorder, delivery, 5).await?;
    }
    assert!(messages >= 3, "split into {messages} message(s)");
    let event = ctx.repo.sync_event(&sync_id).await?.expect("recorded");
    assert_eq!(event.state, SyncState::Finished(Health::Degraded), "{:?}", (event.rows, event.failed));
    assert_eq!((event.rows, event.updated, event.failed), (1_234, 1_221, 13));
    assert_eq!(ctx.repo.sync_rows(&sync_id, 5, 0).await?.len(), 5, "the history pages through its rows");
    Ok(())
}

/// A sync whose stage never reported its end is finished as failed by the scheduler's
/// tick once past the deadline, with a message saying what never reported.
#[tokio::test]
async fn a_sync_never_stays_running_past_its_deadline() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let ctx = context(&dir, |repo| repo).await;
    let (stuck, fresh) = (new_id(), new_id());
    let now = now_millis();
    ctx.repo.record_status(&report(&stuck, now - 60_000, StatusEvent::StageStarted), now - 60_000).await?;
    ctx.repo.record_status(&report(&fresh, now, StatusEvent::StageStarted), now).await?;

    airlock_scheduler::tick(&ctx, None).await?;
    let event = ctx.repo.sync_event(&stuck).await?.expect("recorded");
    assert_eq!(event.state, SyncState::Finished(Health::Failure));
    assert_eq!(event.message, "sync did not finish within 10 s: its stage never reported its end");
    assert!(event.finished_at.unwrap() >= now, "finished when the sweep ran");
    assert_eq!(ctx.repo.sync_event(&fresh).await?.map(|e| e.state), Some(SyncState::Running));
    Ok(())
}
