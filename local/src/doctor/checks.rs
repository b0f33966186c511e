//! The individual checks. Resolutions quote the debugging and setup guides, adapted to
//! this project's variable names.

use super::{Check, DoctorConfig, IssuerConfig, Report, STEP_TIMEOUT};
use airlock_domain::{failures, ConnectionKind};
use airlock_protocol::MasterKey;
use airlock_repo::{DynRepository, Repository};
use airlock_store::object_store::{path::Path as ObjectPath, ObjectStore, PutPayload};
use airlock_store::NamedStores;
use futures::TryStreamExt;
use sqlx::Connection as _;
use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;

const MASTER_KEY_FIX: &str = "set AIRLOCK_MASTER_SECRET to the platform's master key, at least 32 characters and the \
    same in every function and the api (the setup guide's Master Key: it cannot change once deployed)";
const SECRET_FIX: &str = "The Master Secret has rotated. Reset the shared secret on the connection, and if its value \
    changed, re-share it with the receiving Airlock instance.";
const STORE_FIX: &str = "The Inbox / Outbox object stores referenced by the connection must exist, be reachable, and \
    Airlock must have access (static keys or pod identities): check FILE_SERVICE_OBJECT_STORES__<NAME>__* \
    (see S3 Bucket Management)";
const BUCKET_FIX: &str = "The S3 bucket configuration is not duplicated correctly between the registry and Airlock: \
    configure FILE_SERVICE_OBJECT_STORES__<LABEL>__* for this label (see S3 Bucket Management)";
const DATABASE_FIX: &str = "Airlock needs its own PostgreSQL database with all privileges on the public schema: \
    set AIRLOCK_DATABASE_URL=postgres://[user]:[password]@[server]:5432/[database] and check that it answers";
const MIGRATION_FIX: &str = "start any Airlock function (or `airlock serve`) once against this database: each applies \
    the migrations at start, with the privileges to create tables";
const BUS_FIX: &str = "check AIRLOCK_BUS_URL (nats://host:4222 with JetStream enabled, sqs://…, or memory:// for one \
    process) and that the server answers";
const OIDC_FIX: &str = "check AIRLOCK_OIDC_ISSUER and AIRLOCK_OIDC_JWKS_URL (the JWKS URL for token validation, e.g. \
    https://<zitadel domain>/oauth/v2/keys) and that this host can reach them";
const ISSUER_FIX: &str = "set AIRLOCK_OIDC_JWKS_URL with AIRLOCK_OIDC_ISSUER for an external issuer, or \
    AIRLOCK_LOCAL_ISSUER_DIR for the embedded one (authentication is never switched off)";
const MANIFEST_FIX: &str =
    "Confirm the Shared ID matches the Shared ID on the sending side exactly. Confirm the Inbox \
    is receiving files as expected (i.e. manifest files located in <SHARED_ID>/shard0/manifest); the sending side \
    writes the first one at its first sync. See S3 Bucket Management.";

/// Runs a step with the doctor's time limit, so an unreachable host fails instead of hanging.
async fn timed<T, E: std::fmt::Display>(step: impl Future<Output = Result<T, E>>) -> Result<T, String> {
    match tokio::time::timeout(STEP_TIMEOUT, step).await {
        Ok(result) => result.map_err(|e| e.to_string()),
        Err(_) => Err(format!("no answer within {} s", STEP_TIMEOUT.as_secs())),
    }
}

pub(super) fn master_key(config: &DoctorConfig, report: &mut Report) -> Option<MasterKey> {
    let name = "master key";
    let Some(secret) = &config.master_secret else {
        report.checks.push(Check::fail(name, format!("not set ({})", config.master_source), MASTER_KEY_FIX));
        return None;
    };
    match MasterKey::new(secret) {
        Ok(key) => {
            let detail = format!("{} characters, from {}", secret.chars().count(), config.master_source);
            report.checks.push(Check::pass(name, detail));
            Some(key)
        }
        Err(e) => {
            report.checks.push(Check::fail(name, format!("{e} (from {})", config.master_source), MASTER_KEY_FIX));
            None
        }
    }
}

/// Each configured store: write, read, list and delete a probe under `doctor/`.
pub(super) async fn stores(config: &DoctorConfig, report: &mut Report) -> NamedStores {
    let mut registry = NamedStores::default();
    let configs = match &config.stores {
        Ok(configs) => configs,
        Err(why) => {
            report.checks.push(Check::fail("object store configuration", why.clone(), STORE_FIX));
            return registry;
        }
    };
    if configs.is_empty() {
        report.checks.push(Check::fail("object stores", "none configured", STORE_FIX));
        return registry;
    }
    if !configs.iter().any(|c| c.label.eq_ignore_ascii_case(&config.registry_store)) {
        let detail =
            format!("the registry's store '{}' (AIRLOCK_REGISTRY_STORE) is not configured", config.registry_store);
        report.checks.push(Check::fail("registry store", detail, STORE_FIX));
    }
    for store_config in configs {
        let name = format!("store {}", store_config.label);
        let opened = airlock_store::NamedStores::from_configs(std::slice::from_ref(store_config))
            .and_then(|r| r.get(&store_config.label));
        let store = match opened {
            Ok(store) => store,
            Err(e) => {
                report.checks.push(Check::fail(name, e.to_string(), STORE_FIX));
                continue;
            }
        };
        let scheme = format!("{:?}", store_config.scheme).to_lowercase();
        let target = format!("{scheme} '{}'", store_config.name);
        match probe(&store).await {
            Ok(()) => report.checks.push(Check::pass(name, format!("{target}: write, read, list and delete work"))),
            Err(why) => report.checks.push(Check::fail(name, format!("{target}: {why}"), STORE_FIX)),
        }
        registry.insert_named(&store_config.label, &store_config.name, store);
    }
    registry
}

async fn probe(store: &Arc<dyn ObjectStore>) -> Result<(), String> {
    let key = ObjectPath::from(format!("doctor/probe-{}", uuid::Uuid::new_v4()));
    let body = format!("airlock doctor probe {key}");
    timed(store.put(&key, PutPayload::from(body.clone().into_bytes())))
        .await
        .map_err(|e| format!("write failed: {e}"))?;
    let outcome = probe_written(store, &key, &body).await;
    // Removed whatever happened above, so a failed read leaves nothing behind.
    let deleted = timed(store.delete(&key)).await.map_err(|e| format!("delete failed: {e}"));
    outcome.and(deleted)
}

async fn probe_written(store: &Arc<dyn ObjectStore>, key: &ObjectPath, body: &str) -> Result<(), String> {
    let read = timed(async { store.get(key).await?.bytes().await }).await.map_err(|e| format!("read failed: {e}"))?;
    if read.as_ref() != body.as_bytes() {
        return Err(format!("read failed: '{key}' came back with {} different byte(s)", read.len()));
    }
    let prefix = ObjectPath::from("doctor");
    let listed: Vec<_> =
        timed(store.list(Some(&prefix)).try_collect::<Vec<_>>()).await.map_err(|e| format!("list failed: {e}"))?;
    if !listed.iter().any(|meta| &meta.location == key) {
        return Err(format!("list failed: '{key}' was written but is not listed under 'doctor/'"));
    }
    Ok(())
}

/// Reachable and migrated, checked without migrating; then opened as the functions open it.
pub(super) async fn database(config: &DoctorConfig, report: &mut Report) -> Option<DynRepository> {
    sqlx::any::install_default_drivers();
    let url = crate::redact(&config.database_url);
    // One connection, not a pool: a pool retries a refused connection until its timeout.
    let mut connection = match timed(sqlx::AnyConnection::connect(&config.database_url)).await {
        Ok(connection) => connection,
        Err(why) => {
            report.checks.push(Check::fail("database", format!("'{url}' is unreachable: {why}"), DATABASE_FIX));
            return None;
        }
    };
    report.checks.push(Check::pass("database", format!("'{url}' answers")));
    let applied = timed(
        sqlx::query_as::<_, (i64,)>("SELECT version FROM _sqlx_migrations WHERE success").fetch_all(&mut connection),
    )
    .await;
    let _ = connection.close().await;
    let applied: Vec<i64> = match applied {
        Ok(rows) => rows.into_iter().map(|(v,)| v).collect(),
        Err(why) => {
            let detail = format!("'{url}' has no migration history, so no Airlock tables: {why}");
            report.checks.push(Check::fail("database migrations", detail, MIGRATION_FIX));
            return None;
        }
    };
    let missing: Vec<String> = MIGRATOR
        .iter()
        .filter(|m| !applied.contains(&m.version))
        .map(|m| format!("{} ({})", m.version, m.description))
        .collect();
    if !missing.is_empty() {
        let detail = format!("'{url}' lacks migration(s) {}", missing.join(", "));
        report.checks.push(Check::fail("database migrations", detail, MIGRATION_FIX));
        return None;
    }
    report.checks.push(Check::pass("database migrations", format!("all {} applied", MIGRATOR.iter().count())));
    match timed(airlock_repo::connect(&config.database_url)).await {
        Ok(repo) => Some(repo),
        Err(why) => {
            report.checks.push(Check::fail("database", format!("'{url}' could not be opened: {why}"), DATABASE_FIX));
            None
        }
    }
}

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations");

pub(super) async fn bus(config: &DoctorConfig, report: &mut Report) {
    let url = &config.bus_url;
    if url == "memory://" || url == "in-process" {
        let detail = format!("'{url}' is the in-process bus: every function must run in one process (airlock serve)");
        report.checks.push(Check::pass("bus", detail));
        return;
    }
    match timed(airlock_bus::connect(url)).await {
        Ok(_) => report.checks.push(Check::pass("bus", format!("'{url}' answers"))),
        Err(why) => report.checks.push(Check::fail("bus", format!("'{url}' is unreachable: {why}"), BUS_FIX)),
    }
}

pub(super) async fn issuer(config: &DoctorConfig, report: &mut Report) {
    match &config.issuer {
        IssuerConfig::None => {
            report.checks.push(Check::fail("token issuer", "none configured: the api refuses to start", ISSUER_FIX))
        }
        IssuerConfig::Local { key_dir } => {
            let key = key_dir.join(airlock_api::issuer::KEY_FILE);
            let check = if !key.exists() {
                Check::pass(
                    "token issuer",
                    format!("embedded; '{}' is created at the api's first start", key.display()),
                )
            } else {
                match airlock_api::LocalIssuer::open(key_dir, "doctor", "doctor") {
                    Ok(issuer) => {
                        Check::pass("token issuer", format!("embedded, key '{}' ({})", key.display(), issuer.kid()))
                    }
                    Err(e) => Check::fail("token issuer", e.to_string(), ISSUER_FIX),
                }
            };
            report.checks.push(check);
        }
        IssuerConfig::Oidc { issuer, jwks_url } => oidc(issuer, jwks_url, report).await,
    }
}

async fn oidc(issuer: &str, jwks_url: &str, report: &mut Report) {
    let client = reqwest::Client::builder().timeout(STEP_TIMEOUT).build().expect("a client with a timeout builds");
    let fetch = |url: String| {
        let client = client.clone();
        async move {
            let response = client.get(&url).send().await.map_err(|e| format!("'{url}': {e}"))?;
            let status = response.status();
            if !status.is_success() {
                return Err(format!("'{url}' answered {status}"));
            }
            response.json::<serde_json::Value>().await.map_err(|e| format!("'{url}' is not JSON: {e}"))
        }
    };
    if issuer.is_empty() {
        report.checks.push(Check::fail("oidc discovery", "AIRLOCK_OIDC_ISSUER is not set", OIDC_FIX));
    } else {
        let url = format!("{}/.well-known/openid-configuration", issuer.trim_end_matches('/'));
        let check = match fetch(url).await {
            Ok(doc) if doc.get("issuer").and_then(|v| v.as_str()) == Some(issuer) => {
                Check::pass("oidc discovery", format!("'{issuer}' publishes its configuration"))
            }
            Ok(doc) => Check::fail(
                "oidc discovery",
                format!(
                    "the document names issuer {}, not '{issuer}'",
                    doc.get("issuer").unwrap_or(&serde_json::Value::Null)
                ),
                OIDC_FIX,
            ),
            Err(why) => Check::fail("oidc discovery", why, OIDC_FIX),
        };
        report.checks.push(check);
    }
    let check = match fetch(jwks_url.to_owned()).await {
        Ok(doc) => match doc.get("keys").and_then(|k| k.as_array()).map(Vec::len) {
            Some(n) if n > 0 => Check::pass("oidc jwks", format!("'{jwks_url}' serves {n} key(s)")),
            _ => Check::fail("oidc jwks", format!("'{jwks_url}' serves no keys"), OIDC_FIX),
        },
        Err(why) => Check::fail("oidc jwks", why, OIDC_FIX),
    };
    report.checks.push(check);
}

/// Stored secrets unwrap; each active connection's store is configured; each receiving
/// connection's inbox holds the sender's first manifest.
pub(super) async fn connections(
    repo: &dyn Repository,
    master: Option<&MasterKey>,
    stores: &NamedStores,
    report: &mut Report,
) {
    let all = match repo.connections(true).await {
        Ok(all) => all,
        Err(e) => {
            report.checks.push(Check::fail("connections", format!("could not be listed: {e}"), DATABASE_FIX));
            return;
        }
    };
    match master {
        None => report.checks.push(Check::skip("stored secrets", "not checked without a usable master key")),
        Some(master) => {
            let refused: Vec<String> = all
                .iter()
                .filter(|c| master.unwrap(&c.wrapped_secret).is_err())
                .map(|c| format!("'{}' ({}, shared ID {})", c.name, kind(c.kind), c.shared_id))
                .collect();
            report.checks.push(if refused.is_empty() {
                Check::pass("stored secrets", format!("the master key unwraps all {} connection secret(s)", all.len()))
            } else {
                let detail = format!(
                    "{} for {} of {}: {}",
                    failures::SECRET_UNAVAILABLE,
                    refused.len(),
                    all.len(),
                    refused.join(", ")
                );
                Check::fail("stored secrets", detail, SECRET_FIX)
            });
        }
    }
    let labels: BTreeMap<String, ()> = stores.labels().into_iter().map(|l| (l, ())).collect();
    for connection in all.iter().filter(|c| c.is_active()) {
        let name = format!("{} connection '{}'", kind(connection.kind), connection.name);
        let label = connection.store_label.to_ascii_uppercase();
        if !labels.contains_key(&label) {
            report.checks.push(Check::fail(name, failures::bucket_not_configured(&connection.store_label), BUCKET_FIX));
            continue;
        }
        if connection.kind != ConnectionKind::Receiving {
            report.checks.push(Check::pass(name, format!("outbox '{label}' is configured")));
            continue;
        }
        let key = airlock_domain::manifest::manifest_key(&connection.shared_id);
        let store = stores.get(&label).expect("the label was just found among the configured stores");
        let check = match tokio::time::timeout(STEP_TIMEOUT, store.head(&ObjectPath::from(key.as_str()))).await {
            Ok(Ok(_)) => Check::pass(name, format!("inbox '{label}' has '{key}'")),
            Ok(Err(e)) if airlock_store::is_not_found(&e) => {
                Check::fail(name, failures::no_manifest_received(&key, &label), MANIFEST_FIX)
            }
            Ok(Err(e)) => Check::fail(name, format!("inbox '{label}': reading '{key}' failed: {e}"), STORE_FIX),
            Err(_) => Check::fail(
                name,
                format!("inbox '{label}': reading '{key}' got no answer within {} s", STEP_TIMEOUT.as_secs()),
                STORE_FIX,
            ),
        };
        report.checks.push(check);
    }
}

fn kind(kind: ConnectionKind) -> &'static str {
    match kind {
        ConnectionKind::Sending => "sending",
        ConnectionKind::Receiving => "receiving",
    }
}
