//! The Airlock run of the large-file mode: two platforms on the embedded default, the file
//! uploaded and shared at A, published, received at B, and B's copy checked.

use super::args::Args;
use super::disk::{dir_size, sha256_of, Staged};
use super::proc::{status_kib, Meter, Phase, PhaseClock};
use super::tools::{flush_disk, MotoServer};
use super::MIB;
use crate::pair::{Pair, PairSetup, BOB};
use airlock_bus::InProcessBus;
use airlock_domain::pipeline::ResourceOutcome;
use airlock_domain::Health;
use airlock_repo::{SyncEvent, SyncState};
use anyhow::{anyhow, ensure, Context as _};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

pub fn check_event(side: &str, events: Vec<SyncEvent>) -> anyhow::Result<SyncEvent> {
    ensure!(events.len() == 1, "platform {side} started {} sync(s), expected one", events.len());
    let event = events.into_iter().next().expect("one event");
    let rows: Vec<String> = event.resources.iter().map(|r| format!("{:?}: {}", r.outcome, r.message)).collect();
    ensure!(
        matches!(event.state, SyncState::Finished(Health::Success))
            && event.updated == 1
            && event.resources.iter().all(|r| r.outcome == ResourceOutcome::Updated),
        "platform {side}'s sync did not move the file: {:?}, {} update(s), message '{}', rows {rows:?}",
        event.state,
        event.updated,
        event.message
    );
    Ok(event)
}

pub struct AirlockFigures {
    pub upload: Phase,
    pub publish: Phase,
    pub receive: Phase,
    /// VmRSS after setup (both platforms started, file uploaded and shared), KiB.
    pub baseline: Option<u64>,
    /// VmHWM of the whole run up to the end of setup, KiB.
    pub setup_peak: Option<u64>,
    pub outbox_bytes: u64,
    /// Partial uploads still being written when A's, then B's sync had reported finished.
    pub publish_leftover: Staged,
    pub receive_leftover: Staged,
}

/// Platforms A and B on the embedded default with the bench's chunk size and ack deadline,
/// exchanging through a directory or, with `--s3`, a bucket on moto's server (returned, to
/// be kept alive as long as the pair).
pub async fn start_pair(args: &Args, state: &Path) -> anyhow::Result<(Pair, Option<MotoServer>)> {
    let mut setup = PairSetup::embedded(state);
    setup.settings.chunk_size = args.chunk_kib * 1024;
    if let Some(ack_wait) = args.ack_wait {
        setup.bus_a = Arc::new(InProcessBus::with_ack_wait(ack_wait));
        setup.bus_b = Arc::new(InProcessBus::with_ack_wait(ack_wait));
    }
    let mut s3_server = None;
    if args.s3 {
        let server = MotoServer::find_or_start()?;
        let config = server.new_bucket("EXCHANGE")?;
        setup.exchange = Some(airlock_store::NamedStores::from_configs(&[config])?.get("EXCHANGE")?);
        s3_server = Some(server);
    }
    let pair = Pair::start(setup).await.context("starting platforms A and B")?;
    Ok((pair, s3_server))
}

pub async fn run_airlock(args: &Args, input: &Path, input_sha: &str, state: &Path) -> anyhow::Result<AirlockFigures> {
    let size = args.size_mib * MIB;
    // Generous: the point is to measure, not to fail on a slow shared machine.
    let timeout = Duration::from_secs(600 + args.size_mib * 2);
    let meter = Meter::this_process();

    // Kept alive for the whole run when the exchange is an S3 bucket (multipart uploads).
    let (pair, _s3_server) = start_pair(args, state).await?;

    let clock = PhaseClock::start(&meter);
    let file = tokio::fs::File::open(input).await.with_context(|| format!("opening {}", input.display()))?;
    let (resource, revision) =
        airlock_services::registry::upload(&pair.a.ctx, "alice", "large.bin", "INTERNAL", Default::default(), file)
            .await
            .context("uploading the input into A's registry")?;
    let upload = clock.stop();
    ensure!(
        revision.size == size && revision.sha256 == input_sha,
        "A's registry stored {} bytes with SHA-256 {}, expected {size} bytes with {input_sha}",
        revision.size,
        revision.sha256
    );
    pair.share(&resource.id).await.context("sharing the file with A's sending connection")?;
    flush_disk().await;
    let setup_peak = status_kib("VmHWM");
    let baseline = status_kib("VmRSS");

    println!("A: publishing (registry -> encrypt -> outbox) ...");
    let clock = PhaseClock::start(&meter);
    let sent = pair.a.sync(timeout).await.context("A's publish")?;
    let publish = clock.stop();
    check_event("A", sent)?;
    let (outbox_bytes, publish_leftover) =
        if args.s3 { (bucket_size(&pair.exchange).await?, Staged::default()) } else { dir_size(&pair.exchange_dir) };
    warn_leftover("A's publish", "outbox", &publish_leftover);
    flush_disk().await;

    println!("B: receiving (inbox -> decrypt+verify -> registry) ...");
    let clock = PhaseClock::start(&meter);
    let received = pair.b.sync(timeout).await.context("B's poll and ingest")?;
    let receive = clock.stop();
    check_event("B", received)?;
    // The pair keeps B's registry in registry-b under its directory.
    let receive_leftover = dir_size(&state.join("registry-b")).1;
    warn_leftover("B's receive", "registry", &receive_leftover);

    // Verified outside the pipeline: hash B's stored copy ourselves rather than trust its checks.
    let at_b = airlock_services::registry::files_visible_to(&pair.b.ctx, BOB).await.context("listing B's files")?;
    let arrived =
        at_b.iter().find(|r| r.name == "large.bin").ok_or_else(|| anyhow!("large.bin is not visible at B"))?;
    let stored =
        pair.b.ctx.repo.latest_revision(&arrived.id).await?.ok_or_else(|| anyhow!("large.bin at B has no revision"))?;
    let reader = airlock_store::reader(&pair.b.ctx.registry_store()?, &stored.blob_key)
        .await
        .with_context(|| format!("opening B's copy {}", stored.blob_key))?;
    let (sha, got) = sha256_of(reader).await.context("reading B's copy")?;
    ensure!(
        got == size && sha == input_sha,
        "B's copy differs from the input: {got} bytes with SHA-256 {sha}, expected {size} bytes with {input_sha}"
    );
    println!("B's copy: {got} bytes, SHA-256 {sha} = input's");

    Ok(AirlockFigures {
        upload,
        publish,
        receive,
        baseline,
        setup_peak,
        outbox_bytes,
        publish_leftover,
        receive_leftover,
    })
}

/// Bytes of every object in a bucket (in-progress multipart uploads are not listed).
pub async fn bucket_size(store: &Arc<dyn airlock_store::object_store::ObjectStore>) -> anyhow::Result<u64> {
    use futures::TryStreamExt;
    let objects: Vec<_> = store.list(None).try_collect().await.context("listing the exchange bucket")?;
    Ok(objects.iter().map(|o| o.size).sum())
}

/// A partial upload left after a sync reported finished means a second run of the same
/// stage is still going: the bus redelivered the message when the first run outlived its
/// ack deadline. That run competes for CPU and disk with what is measured next.
pub fn warn_leftover(phase: &str, place: &str, staged: &Staged) {
    if staged.files > 0 {
        eprintln!(
            "warning: after {phase} reported finished, {} partial upload(s) ({:.1} MiB) were still being written \
             in the {place}: the stage outlived the bus's ack deadline and was redelivered, so a duplicate run \
             is going on (see the WARN lines); figures measured after this are disturbed (--ack-wait-secs \
             raises the deadline)",
            staged.files,
            staged.bytes as f64 / MIB as f64
        );
    }
}
