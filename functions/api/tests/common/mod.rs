//! Test helpers: one platform with several stores (for connection editing), or the
//! two-platform pair (for syncs and the registry), each with a running api on port 0.

#![allow(dead_code)]

use airlock_api::{ApiConfig, RunningApi};
use airlock_domain::{Clearance, InfosecLevel, PlatformSettings, TagSet, User};
use airlock_local::pair::{Pair, PairSetup};
use airlock_runtime::{Context, Settings};
use airlock_store::object_store::memory::InMemory;
use airlock_store::NamedStores;
use reqwest::Method;
use serde_json::Value;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tempfile::TempDir;

pub const ADMIN: &str = "airlock_admin";
pub const SERVICE: &str = "rss_service_user";
pub const HOUR: Duration = Duration::from_secs(3600);

pub fn any_port() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

pub async fn start_api(ctx: Arc<Context>, key_dir: &Path) -> RunningApi {
    airlock_api::start(ctx, ApiConfig::local(any_port(), key_dir)).await.expect("api starts")
}

pub fn tags(list: &[&str]) -> TagSet {
    list.iter().map(|t| t.to_string()).collect()
}

/// A platform with stores OUTBOX, OUTBOX-2, INBOX, INBOX-2 and REGISTRY, levels PUBLIC <
/// INTERNAL < SECRET, tags ITAR, PROJECT-X, EXPORT-CTRL, and users alice and bob (both
/// fully cleared) and a registry user without clearance, carol.
pub struct Single {
    pub dir: TempDir,
    pub ctx: Arc<Context>,
    pub api: RunningApi,
    pub http: Http,
    /// An admin who is also a registry user (alice).
    pub admin: String,
}

pub async fn single() -> Single {
    let dir = tempfile::tempdir().unwrap();
    let mut stores = NamedStores::default();
    for label in ["REGISTRY", "OUTBOX", "OUTBOX-2", "INBOX", "INBOX-2"] {
        stores.insert(label, Arc::new(InMemory::new()));
    }
    let settings = Settings {
        database_url: format!("sqlite://{}", dir.path().join("single.db").display()),
        ..Settings::default()
    };
    let bus = Arc::new(airlock_bus::InProcessBus::new());
    let ctx = airlock_local::context(settings, &"m".repeat(40), bus, stores).await.unwrap();
    let levels = vec![InfosecLevel::new("SECRET", 2), InfosecLevel::new("PUBLIC", 0), InfosecLevel::new("INTERNAL", 1)];
    ctx.repo
        .save_platform(&PlatformSettings { infosec_enabled: true, max_level: levels[0].clone(), levels })
        .await
        .unwrap();
    for tag in ["ITAR", "PROJECT-X", "EXPORT-CTRL"] {
        ctx.repo.put_control_tag(tag, true).await.unwrap();
    }
    let full = Clearance { level: InfosecLevel::new("SECRET", 2), tags: tags(&["ITAR", "PROJECT-X", "EXPORT-CTRL"]) };
    let none = Clearance { level: InfosecLevel::new("PUBLIC", 0), tags: TagSet::new() };
    for (id, name, clearance) in
        [("alice", "Alice Admin", full.clone()), ("bob", "Bob Builder", full), ("carol", "Carol", none)]
    {
        ctx.repo.put_user(&User { id: id.into(), name: name.into(), clearance }).await.unwrap();
    }
    // Admin routes need the Secure Connections feature flag of their caller.
    ctx.repo.set_secure_connections("alice", true).await.unwrap();
    let api = start_api(ctx.clone(), &dir.path().join("keys")).await;
    let admin = api.mint("alice", &[ADMIN], HOUR);
    let http = Http::new(&api.url);
    Single { dir, ctx, api, http, admin }
}

/// The pair (A sends to B) with an api on each side.
pub struct Duo {
    pub dir: TempDir,
    pub pair: Pair,
    pub api_a: RunningApi,
    pub api_b: RunningApi,
    pub a: Http,
    pub b: Http,
}

pub async fn duo() -> Duo {
    let dir = tempfile::tempdir().unwrap();
    let pair = Pair::start(PairSetup::embedded(dir.path())).await.unwrap();
    let api_a = start_api(pair.a.ctx.clone(), &dir.path().join("keys-a")).await;
    let api_b = start_api(pair.b.ctx.clone(), &dir.path().join("keys-b")).await;
    let (a, b) = (Http::new(&api_a.url), Http::new(&api_b.url));
    Duo { dir, pair, api_a, api_b, a, b }
}

/// A response: status, raw text (for "the secret appears nowhere" checks) and JSON.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub text: String,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text))
    }

    pub fn error(&self) -> String {
        self.json()["error"].as_str().unwrap_or_else(|| panic!("no error field: {}", self.text)).to_owned()
    }

    /// Asserts status and that the error message starts with `prefix`.
    pub fn refused(&self, status: u16, prefix: &str) {
        assert_eq!(self.status, status, "{}", self.text);
        let error = self.error();
        assert!(error.starts_with(prefix), "expected an error starting with {prefix:?}, got {error:?}");
    }

    pub fn ok(&self, status: u16) -> Value {
        assert_eq!(self.status, status, "{}", self.text);
        if self.text.is_empty() {
            Value::Null
        } else {
            self.json()
        }
    }
}

#[derive(Clone)]
pub struct Http {
    pub base: String,
    pub client: reqwest::Client,
}

impl Http {
    pub fn new(base: &str) -> Self {
        Self { base: base.into(), client: reqwest::Client::new() }
    }

    pub async fn send(&self, method: Method, path: &str, token: Option<&str>, body: Option<reqwest::Body>) -> Reply {
        let mut request = self.client.request(method, format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.header("content-type", "application/json").body(body);
        }
        let response = request.send().await.expect("request reaches the api");
        let status = response.status().as_u16();
        Reply { status, text: response.text().await.unwrap() }
    }

    pub async fn get(&self, path: &str, token: &str) -> Reply {
        self.send(Method::GET, path, Some(token), None).await
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> Reply {
        self.send(Method::POST, path, Some(token), Some(body.to_string().into())).await
    }

    pub async fn put(&self, path: &str, token: &str, body: Value) -> Reply {
        self.send(Method::PUT, path, Some(token), Some(body.to_string().into())).await
    }

    pub async fn patch(&self, path: &str, token: &str, body: Value) -> Reply {
        self.send(Method::PATCH, path, Some(token), Some(body.to_string().into())).await
    }
}
