//! `airlock doctor`, run as the real binary: a passing run, and each prerequisite of the
//! debugging guide failing with its line and a non-zero exit.

mod common;

use airlock_services::connections::{self, NewReceivingConnection, NewSendingConnection};
use common::{options, secret, start};
use std::path::{Path, PathBuf};
use std::process::Command;

struct Run {
    code: i32,
    stdout: String,
}

impl Run {
    /// The one line of the named check.
    fn line(&self, start: &str) -> &str {
        self.stdout
            .lines()
            .find(|l| l.starts_with(start))
            .unwrap_or_else(|| panic!("no line '{start}…' in:\n{}", self.stdout))
    }
}

fn doctor(args: &[&str], env: &[(&str, String)]) -> Run {
    let mut command = Command::new(env!("CARGO_BIN_EXE_airlock"));
    command.arg("doctor").args(args).env_clear().env("AIRLOCK_LOG_LEVEL", "error");
    for (name, value) in env {
        command.env(name, value);
    }
    let output = command.output().expect("the airlock binary runs");
    Run {
        code: output.status.code().expect("doctor exits with a code"),
        stdout: String::from_utf8(output.stdout).unwrap() + &String::from_utf8_lossy(&output.stderr),
    }
}

fn on_dir(dir: &Path, env: &[(&str, String)]) -> Run {
    doctor(&["--data-dir", dir.to_str().unwrap()], env)
}

/// A data directory `airlock serve` has started on once.
async fn served_dir(root: &Path) -> PathBuf {
    let dir = root.join("data");
    drop(start(options(&dir)).await);
    dir
}

#[tokio::test]
async fn a_fresh_data_directory_passes() {
    let temp = tempfile::tempdir().unwrap();
    let dir = served_dir(temp.path()).await;
    let run = on_dir(&dir, &[]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert!(run.line("PASS master key: 48 characters").contains("master-secret"));
    for store in ["INBOX", "OUTBOX", "REGISTRY"] {
        assert!(run.line(&format!("PASS store {store}:")).ends_with("write, read, list and delete work"));
    }
    run.line("PASS database:");
    run.line("PASS database migrations: all");
    run.line("PASS bus:");
    run.line("PASS token issuer: embedded");
    run.line("PASS stored secrets: the master key unwraps all 0");
    assert!(run.stdout.trim_end().ends_with("checks passed"), "{}", run.stdout);
    let probes = std::fs::read_dir(dir.join("stores/outbox/doctor")).map(|d| d.count()).unwrap_or(0);
    assert_eq!(probes, 0, "the probe objects are removed");
}

#[tokio::test]
async fn a_short_master_key_fails() {
    let temp = tempfile::tempdir().unwrap();
    let dir = served_dir(temp.path()).await;
    let run = on_dir(&dir, &[("AIRLOCK_MASTER_SECRET", "too-short".into())]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    let line = run.line("FAIL master key:");
    assert!(
        line.starts_with("FAIL master key: AIRLOCK_MASTER_SECRET is 9 characters long; at least 32 are required"),
        "{line}"
    );
    assert!(line.contains("-> set AIRLOCK_MASTER_SECRET"), "{line}");
    run.line("SKIP stored secrets:");
}

#[tokio::test]
async fn a_stored_secret_the_master_key_cannot_unwrap_fails() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("data");
    let served = start(options(&dir)).await;
    let s = secret();
    let new = NewSendingConnection {
        name: "To B".into(),
        description: String::new(),
        outbox: "OUTBOX".into(),
        shared_id: "a-to-b".into(),
        secret: s.clone(),
        secret_confirmation: s,
        permitted_level: None,
        permitted_tags: Default::default(),
        certified: true,
    };
    let sending = connections::create_sending(served.ctx(), new).await.unwrap();
    drop(served);
    assert_eq!(on_dir(&dir, &[]).code, 0, "the data directory's own key unwraps it");

    let run = on_dir(&dir, &[("AIRLOCK_MASTER_SECRET", "another-master-secret-of-enough-length".into())]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    let line = run.line("FAIL stored secrets:");
    let expected = format!(
        "FAIL stored secrets: shared secret unavailable: InvalidToken for 1 of 1: 'To B' (sending, shared ID {})",
        sending.shared_id
    );
    assert!(line.starts_with(&expected), "{line}");
    assert!(line.contains("-> The Master Secret has rotated. Reset the shared secret on the connection"), "{line}");
}

#[tokio::test]
async fn an_unreachable_store_fails() {
    let temp = tempfile::tempdir().unwrap();
    let dir = served_dir(temp.path()).await;
    // A directory store below a regular file can be neither created nor written.
    let blocker = temp.path().join("not-a-directory");
    std::fs::write(&blocker, "x").unwrap();
    let stores = std::fs::read_to_string(dir.join("stores.json")).unwrap();
    let mut stores: serde_json::Value = serde_json::from_str(&stores).unwrap();
    stores["INBOX"] = blocker.join("inbox").to_str().unwrap().into();
    std::fs::write(dir.join("stores.json"), stores.to_string()).unwrap();

    let run = on_dir(&dir, &[]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    let line = run.line("FAIL store INBOX:");
    assert!(line.contains("could not open"), "{line}");
    assert!(line.contains("-> The Inbox / Outbox object stores referenced by the connection must exist"), "{line}");
    run.line("PASS store OUTBOX:");
}

#[tokio::test]
async fn a_receiving_connection_without_its_first_manifest_fails() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("data");
    let served = start(options(&dir)).await;
    // The first admin's account, as their first request to the api creates it.
    let admin = airlock_services::platform::Identity {
        id: airlock_local::serve::ADMIN_SUB.into(),
        name: None,
        email: None,
        claimed_level: None,
        claimed_tags: None,
    };
    airlock_services::platform::sign_in(served.ctx(), &admin).await.unwrap();
    let new = NewReceivingConnection {
        name: "From A".into(),
        description: String::new(),
        inbox: "INBOX".into(),
        shared_id: "a-to-b-x7k2p9qa".into(),
        secret: secret(),
        creator_id: airlock_local::serve::ADMIN_SUB.into(),
    };
    connections::create_receiving(served.ctx(), new).await.unwrap();
    drop(served);

    let run = on_dir(&dir, &[]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    let line = run.line("FAIL receiving connection 'From A':");
    assert!(
        line.contains(
            "connection failed (no manifest received): no object at 'a-to-b-x7k2p9qa/shard0/manifest' in store 'INBOX'"
        ),
        "{line}"
    );
    assert!(line.contains("-> Confirm the Shared ID matches the Shared ID on the sending side exactly"), "{line}");

    let manifest = dir.join("stores/inbox/a-to-b-x7k2p9qa/shard0/manifest");
    std::fs::create_dir_all(manifest.parent().unwrap()).unwrap();
    std::fs::write(&manifest, "{}").unwrap();
    let run = on_dir(&dir, &[]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    run.line("PASS receiving connection 'From A': inbox 'INBOX' has 'a-to-b-x7k2p9qa/shard0/manifest'");
}

/// A deployment configured like the functions: variables only.
fn deployment_env(temp: &Path, database_url: &str) -> Vec<(&'static str, String)> {
    vec![
        ("AIRLOCK_MASTER_SECRET", "m".repeat(40)),
        ("AIRLOCK_DATABASE_URL", database_url.into()),
        ("AIRLOCK_LOCAL_ISSUER_DIR", temp.join("issuer").display().to_string()),
        ("FILE_SERVICE_OBJECT_STORES__REGISTRY__SCHEME", "file".into()),
        ("FILE_SERVICE_OBJECT_STORES__REGISTRY__NAME", temp.join("registry").display().to_string()),
        ("FILE_SERVICE_OBJECT_STORES__OUTBOX__SCHEME", "file".into()),
        ("FILE_SERVICE_OBJECT_STORES__OUTBOX__NAME", temp.join("outbox").display().to_string()),
    ]
}

#[tokio::test]
async fn a_deployment_from_the_environment_passes_and_an_unreachable_or_unmigrated_database_fails() {
    let temp = tempfile::tempdir().unwrap();
    let migrated = format!("sqlite://{}", temp.path().join("airlock.db").display());
    drop(airlock_repo::connect(&migrated).await.unwrap());
    let run = doctor(&[], &deployment_env(temp.path(), &migrated));
    assert_eq!(run.code, 0, "{}", run.stdout);
    run.line("PASS store OUTBOX: file");

    let unreachable = "postgres://postgres:pw@127.0.0.1:1/airlock";
    let run = doctor(&[], &deployment_env(temp.path(), unreachable));
    assert_eq!(run.code, 1, "{}", run.stdout);
    let line = run.line("FAIL database:");
    assert!(line.starts_with("FAIL database: 'postgres://postgres:***@127.0.0.1:1/airlock' is unreachable"), "{line}");
    assert!(line.contains("-> Airlock needs its own PostgreSQL database"), "{line}");
    run.line("SKIP connections:");

    let empty = format!("sqlite://{}?mode=rwc", temp.path().join("empty.db").display());
    let run = doctor(&[], &deployment_env(temp.path(), &empty));
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert!(run.line("FAIL database migrations:").contains("has no migration history"));
}

#[tokio::test]
async fn an_external_issuer_is_checked_for_discovery_and_keys() {
    let temp = tempfile::tempdir().unwrap();
    let migrated = format!("sqlite://{}", temp.path().join("airlock.db").display());
    drop(airlock_repo::connect(&migrated).await.unwrap());
    // A served platform stands in for the IdP: its JWKS is real, but its discovery
    // document names the issuer 'airlock-local', not its address.
    let idp = start(options(&temp.path().join("idp"))).await;
    let env = |jwks_url: String| {
        let mut env = deployment_env(temp.path(), &migrated);
        env.retain(|(name, _)| *name != "AIRLOCK_LOCAL_ISSUER_DIR");
        env.push(("AIRLOCK_OIDC_ISSUER", idp.url.clone()));
        env.push(("AIRLOCK_OIDC_JWKS_URL", jwks_url));
        env
    };
    let reachable = env(format!("{}/oauth/v2/keys", idp.url));
    // The doctor is a child process; keep this runtime free to answer it.
    let run = tokio::task::spawn_blocking(move || doctor(&[], &reachable)).await.unwrap();
    assert_eq!(run.code, 1, "{}", run.stdout);
    run.line("PASS oidc jwks:");
    let line = run.line("FAIL oidc discovery:");
    assert!(line.contains("names issuer \"airlock-local\""), "{line}");

    let unreachable = env("http://127.0.0.1:1/oauth/v2/keys".into());
    let run = tokio::task::spawn_blocking(move || doctor(&[], &unreachable)).await.unwrap();
    assert!(run.line("FAIL oidc jwks: 'http://127.0.0.1:1/oauth/v2/keys'").contains("-> check AIRLOCK_OIDC_ISSUER"));
}
