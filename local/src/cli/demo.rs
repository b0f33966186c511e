//! Two organizations exchanging files on the embedded default: platform A shares files
//! with partner B through one directory that is A's outbox and B's inbox. With the
//! `AIRLOCK_DEMO_*` variables and an `EXCHANGE` store set (local/real-stack.sh sets them),
//! the same demo runs on real services instead.

use crate::pair::{cover_incoming_tags, Pair, PairSetup, BOB, CAROL};
use crate::redact;
use airlock_domain::pipeline::ResourceOutcome;
use airlock_repo::{SyncEvent, SyncState};
use anyhow::{bail, ensure, Context as _};
use std::path::PathBuf;

/// Runs the demo; with `keep`, its state stays in that directory afterwards.
pub async fn run(keep: Option<PathBuf>) -> anyhow::Result<()> {
    if std::env::var("AIRLOCK_LOG_LEVEL").is_err() {
        std::env::set_var("AIRLOCK_LOG_LEVEL", "error");
    }
    airlock_runtime::init_logging();
    let temp = tempfile::tempdir()?;
    let dir = keep.clone().unwrap_or_else(|| temp.path().to_owned());
    std::fs::create_dir_all(&dir)?;
    println!("Airlock demo: platform A sends, platform B receives (state in {})\n", dir.display());

    // B starts without rules for A's tags, to show the refusal an operator would see.
    let mut setup = PairSetup::embedded(&dir);
    setup.receiving_rules = false;
    if !use_real_backends(&mut setup).await? {
        println!("backends: SQLite files, an in-process bus per platform, a directory as the exchange bucket\n");
    }
    let pair = Pair::start(setup).await?;
    println!("A created sending connection '{}' with shared ID {}", pair.sending.name, pair.sending.shared_id);
    println!("  permitted level INTERNAL, permitted tags ITAR, PROJECT-X; rule: remove PROJECT-X");
    println!(
        "B created receiving connection '{}' with the same shared ID and secret; owners bob and carol\n",
        pair.receiving.name
    );

    let spar = pair.upload("wing-spar.step", "INTERNAL", &["ITAR", "PROJECT-X"], &cad_bytes()).await?;
    let readme = pair.upload("readme.txt", "PUBLIC", &[], b"Joint programme: shared design data.\n").await?;
    let report = pair.upload("test-report.csv", "PUBLIC", &["ITAR"], b"load,deflection\n1000,2.1\n2000,4.3\n").await?;
    for file in [&spar, &readme, &report] {
        pair.share(&file.id).await?;
    }
    println!("alice at A shared wing-spar.step (INTERNAL; ITAR, PROJECT-X), readme.txt (PUBLIC), test-report.csv (PUBLIC; ITAR)");
    let secret = pair.upload("secret-plan.pdf", "SECRET", &[], b"not for partners").await?;
    match pair.share(&secret.id).await {
        Ok(()) => anyhow::bail!("a SECRET file was accepted by an INTERNAL connection"),
        Err(e) => println!("alice tried to share secret-plan.pdf (SECRET): refused: {e}\n"),
    }

    println!("== sync 1");
    let (sent, received) = pair.sync().await?;
    print_event("A", &sent);
    print_event("B", &received);
    ensure!(
        matches!(received.state, SyncState::Finished(airlock_domain::Health::Failure)),
        "B should refuse uncovered tags"
    );

    println!("\nB's admin adds receiving rules: map ITAR -> B-ITAR, add FROM-PARTNER-A\n");
    cover_incoming_tags(&pair.b.ctx, &pair.receiving.id).await?;
    println!("== sync 2");
    let (sent, received) = pair.sync().await?;
    print_event("A", &sent);
    print_event("B", &received);
    ensure!(received.updated == 3, "B should have received three files");

    println!("\nWhat B's users see:");
    for user in [BOB, CAROL] {
        let files = pair.files_at_b(user).await?;
        let names: Vec<String> =
            files.iter().map(|(r, _)| format!("{} [{}; {}]", r.name, r.level.name, join(&r.tags))).collect();
        println!("  {user}: {}", if names.is_empty() { "nothing".into() } else { names.join(", ") });
    }
    let bob_files = pair.files_at_b(BOB).await?;
    let spar_at_b =
        bob_files.iter().find(|(r, _)| r.name == "wing-spar.step").context("bob should see wing-spar.step")?;
    ensure!(spar_at_b.1 == cad_bytes(), "received bytes differ from the original");
    ensure!(
        !spar_at_b.0.tags.contains("PROJECT-X") && spar_at_b.0.tags.contains("B-ITAR"),
        "tags were not transformed"
    );
    ensure!(
        !pair.files_at_b(CAROL).await?.iter().any(|(r, _)| r.name == "wing-spar.step"),
        "carol must not see the ITAR file"
    );
    println!("  wing-spar.step at B is byte-identical to A's ({} bytes); carol, lacking RESTRICTED and B-ITAR, does not see it", spar_at_b.1.len());

    println!("\nalice reclassifies test-report.csv as SECRET at A, above what the connection permits\n");
    let mut reclassified = report.clone();
    reclassified.level = airlock_domain::InfosecLevel::new("SECRET", 2);
    pair.a.ctx.repo.put_resource(&reclassified).await?;
    println!("== sync 3");
    let (sent, received) = pair.sync().await?;
    print_event("A", &sent);
    print_event("B", &received);
    ensure!(
        sent.resources.iter().any(|r| r.name == "test-report.csv" && r.outcome == ResourceOutcome::Removed),
        "A should remove the reclassified file from the connection"
    );

    println!("\nSync history of A's sending connection (newest first):");
    for event in pair.a.ctx.repo.sync_events(&pair.sending.id, false, 10, 0).await? {
        print_event("A", &event);
    }
    println!("\nSync history of B's receiving connection (newest first):");
    for event in pair.b.ctx.repo.sync_events(&pair.receiving.id, false, 10, 0).await? {
        print_event("B", &event);
    }
    println!("\ndemo finished: every check passed");
    Ok(())
}

/// Variables naming each platform's database and bus; all or none must be set.
const REAL_BACKEND_VARS: [&str; 4] =
    ["AIRLOCK_DEMO_DATABASE_A", "AIRLOCK_DEMO_DATABASE_B", "AIRLOCK_DEMO_BUS_A", "AIRLOCK_DEMO_BUS_B"];

/// Points the pair at the real services the environment names, with the `EXCHANGE` object
/// store as A's outbox and B's inbox. Returns false when none are named.
async fn use_real_backends(setup: &mut PairSetup) -> anyhow::Result<bool> {
    let values = REAL_BACKEND_VARS.map(|name| std::env::var(name).ok().filter(|v| !v.is_empty()));
    if values.iter().all(Option::is_none) {
        return Ok(false);
    }
    let missing: Vec<&str> =
        REAL_BACKEND_VARS.iter().zip(&values).filter(|(_, v)| v.is_none()).map(|(name, _)| *name).collect();
    let [Some(database_a), Some(database_b), Some(bus_a), Some(bus_b)] = values else {
        bail!("real backends need all of {}; missing: {}", REAL_BACKEND_VARS.join(", "), missing.join(", "));
    };
    let configs = airlock_store::configs_from_vars(std::env::vars())?;
    let exchange = configs
        .iter()
        .find(|c| c.label == "EXCHANGE")
        .context("real backends need the exchange bucket: FILE_SERVICE_OBJECT_STORES__EXCHANGE__* is not set")?;
    setup.exchange = Some(airlock_store::NamedStores::from_configs(std::slice::from_ref(exchange))?.get("EXCHANGE")?);
    setup.bus_a = airlock_bus::connect(&bus_a).await.with_context(|| format!("bus of platform A '{bus_a}'"))?;
    setup.bus_b = airlock_bus::connect(&bus_b).await.with_context(|| format!("bus of platform B '{bus_b}'"))?;
    println!("backends:");
    println!("  A: database {}, bus {bus_a}", redact(&database_a));
    println!("  B: database {}, bus {bus_b}", redact(&database_b));
    println!(
        "  exchange bucket: {:?} '{}'{}\n",
        exchange.scheme,
        exchange.name,
        exchange.endpoint_url.as_deref().map(|e| format!(" at {e}")).unwrap_or_default()
    );
    setup.database_a = database_a;
    setup.database_b = database_b;
    Ok(true)
}

fn print_event(side: &str, event: &SyncEvent) {
    let state = match event.state {
        SyncState::Finished(health) => health.as_str(),
        SyncState::Running => "running",
    };
    // The end of the id: ids of one process share their start and count up at the end.
    let short = &event.sync_id[event.sync_id.len().saturating_sub(8)..];
    println!("  [{side}] sync …{short} {state}: {} update(s) — {}", event.updated, event.message);
    for row in &event.resources {
        println!("      {:<9} {:<16} {}", row.outcome.as_str(), row.name, row.message);
    }
}

fn join(tags: &airlock_domain::TagSet) -> String {
    tags.iter().cloned().collect::<Vec<_>>().join(", ")
}

/// A stand-in CAD file, large enough to span several encrypted chunks.
fn cad_bytes() -> Vec<u8> {
    let mut bytes = Vec::with_capacity(300_000);
    let mut i: u32 = 0;
    while bytes.len() < 300_000 {
        bytes.extend_from_slice(format!("#{i} = CARTESIAN_POINT('', ({i}.0, {}.5, 0.0));\n", i * 7).as_bytes());
        i += 1;
    }
    bytes
}
