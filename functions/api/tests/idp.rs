//! Authentication against a real OpenID provider: the `oidc-provider` package run by node
//! (tests/idp/provider.js), issuing JWT access tokens with Zitadel-style project role claims
//! through the client_credentials grant, and rotating its signing key on request.
//!
//! Needs node; the package is installed into tests/idp/node_modules by `.ci/run` (or here,
//! with `npm ci`, when it is missing). Without node the test says so and passes.

mod common;

use airlock_api::auth::RoleClaims;
use airlock_api::{ApiConfig, AuthConfig};
use common::*;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The project whose roles count, and the audience its tokens carry (as in Zitadel, where the
/// audience is the project id).
const PROJECT: &str = "300000000000000001";
const OTHER_PROJECT: &str = "300000000000000999";
const ADMIN_ROUTE: &str = "/api/v1/connections";
/// How old the api lets the provider's keys get; the provider itself says max-age=300.
const JWKS_MAX_AGE: Duration = Duration::from_secs(2);

fn idp_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/idp")
}

fn node_installed() -> bool {
    Command::new("node").arg("--version").stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok()
}

/// `npm ci` into tests/idp when the package is missing (one test at a time).
fn install_provider_package() {
    static INSTALL: Mutex<()> = Mutex::new(());
    let _one = INSTALL.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let dir = idp_dir();
    if dir.join("node_modules/oidc-provider/package.json").exists() {
        return;
    }
    let output =
        Command::new("npm").args(["ci", "--no-audit", "--no-fund", "--prefix"]).arg(&dir).output().unwrap_or_else(
            |e| panic!("node is installed but npm can't be run ({e}); run `npm ci --prefix tests/idp`"),
        );
    assert!(
        output.status.success(),
        "npm ci --prefix {} failed: {}",
        dir.display(),
        String::from_utf8_lossy(&output.stderr)
    );
}

struct Provider {
    issuer: String,
    child: Child,
    log: PathBuf,
    http: reqwest::Client,
}

impl Drop for Provider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Provider {
    async fn start(dir: &Path) -> Provider {
        install_provider_package();
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let issuer = format!("http://127.0.0.1:{port}");
        let org = json!({"id": "200000000000000001", "domain": "acme.example"});
        let config = json!({
            "port": port,
            "issuer": issuer,
            "jwks_max_age_secs": 300,
            "resources": {
                "urn:airlock": {"audience": PROJECT},
                "urn:another-api": {"audience": "another-api"},
            },
            "clients": [
                // An admin of this project.
                {"client_id": "ops-robot", "client_secret": "ops-secret", "project": PROJECT, "org": org,
                 "grants": {PROJECT: [ADMIN]}},
                // An admin of another project, asking for a token for this one: Zitadel puts its
                // roles under that project's claim and, as its own project, under the plain one.
                {"client_id": "neighbour", "client_secret": "neighbour-secret", "project": OTHER_PROJECT, "org": org,
                 "grants": {OTHER_PROJECT: [ADMIN]}},
            ],
        });
        let config_path = dir.join("provider.json");
        std::fs::write(&config_path, config.to_string()).unwrap();
        let log = dir.join("provider.log");
        let out = std::fs::File::create(&log).unwrap();
        let child = Command::new("node")
            .arg(idp_dir().join("provider.js"))
            .arg(&config_path)
            .current_dir(idp_dir())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .expect("node starts");
        let mut provider = Provider { issuer, child, log, http: reqwest::Client::new() };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = provider.child.try_wait().unwrap() {
                panic!("the provider exited with {status}: {}", provider.log_text());
            }
            let discovery = format!("{}/.well-known/openid-configuration", provider.issuer);
            if let Ok(reply) = provider.http.get(&discovery).send().await {
                if reply.status().is_success() {
                    return provider;
                }
            }
            assert!(Instant::now() < deadline, "the provider did not come up: {}", provider.log_text());
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    async fn discovery(&self) -> Value {
        let url = format!("{}/.well-known/openid-configuration", self.issuer);
        self.http.get(url).send().await.unwrap().json().await.unwrap()
    }

    /// An access token from the client_credentials grant for `resource`.
    async fn token(&self, client_id: &str, secret: &str, resource: &str) -> String {
        let form = [
            ("grant_type", "client_credentials"),
            ("client_id", client_id),
            ("client_secret", secret),
            ("resource", resource),
        ];
        let reply = self.http.post(format!("{}/token", self.issuer)).form(&form).send().await.unwrap();
        let status = reply.status();
        let body: Value = reply.json().await.unwrap();
        assert!(status.is_success(), "the provider refused a token for {client_id}: {body}; {}", self.log_text());
        body["access_token"].as_str().unwrap().to_owned()
    }

    /// Replaces the signing key; the old one is no longer served nor used. Returns the new key id.
    async fn rotate(&self) -> String {
        let reply = self.http.post(format!("{}/admin/rotate", self.issuer)).send().await.unwrap();
        let body: Value = reply.json().await.unwrap();
        body["kid"].as_str().unwrap().to_owned()
    }
}

fn kid_of(token: &str) -> String {
    jsonwebtoken::decode_header(token).unwrap().kid.unwrap()
}

#[tokio::test]
async fn tokens_of_a_real_provider_are_checked_for_project_roles_audience_and_current_keys() {
    if !node_installed() {
        println!("SKIPPED: node is not installed, so the OpenID provider test (tests/idp/provider.js) can't run");
        return;
    }
    let s = single().await;
    let provider = Provider::start(s.dir.path()).await;
    let discovery = provider.discovery().await;
    assert_eq!(discovery["issuer"], json!(provider.issuer));
    let jwks_url = discovery["jwks_uri"].as_str().unwrap().to_owned();

    let config = ApiConfig {
        auth: AuthConfig::Oidc {
            issuer: provider.issuer.clone(),
            jwks_url,
            audience: PROJECT.into(),
            roles: RoleClaims::zitadel_project(PROJECT),
            jwks_max_age: JWKS_MAX_AGE,
        },
        ..ApiConfig::local(any_port(), s.dir.path().join("unused"))
    };
    let api = airlock_api::start(s.ctx.clone(), config).await.unwrap();
    let http = Http::new(&api.url);

    // Sign-in with the provider's token: its roles (this project's) count, and its subject is the caller.
    let ops = provider.token("ops-robot", "ops-secret", "urn:airlock").await;
    // The admin pages need the caller's own Secure Connections flag, which any user may turn on.
    http.put("/api/v1/me/features", &ops, json!({ "secure_connections": true })).await.ok(200);
    assert_eq!(http.get(ADMIN_ROUTE, &ops).await.ok(200), json!([]));
    // Its first sign-in made it a registry user, with nothing to see yet.
    assert_eq!(http.get("/api/v1/files", &ops).await.ok(200), json!([]));

    // The right role, but under another project's claim (and the plain one): not an admin here.
    let neighbour = provider.token("neighbour", "neighbour-secret", "urn:airlock").await;
    http.get(ADMIN_ROUTE, &neighbour)
        .await
        .refused(403, "admin role 'airlock_admin' required; the token of 'neighbour' has roles: none");

    // A genuine token of this provider, for another API.
    let elsewhere = provider.token("ops-robot", "ops-secret", "urn:another-api").await;
    http.get(ADMIN_ROUTE, &elsewhere)
        .await
        .refused(401, &format!("token rejected: audience 'another-api' does not include '{PROJECT}'"));

    // The provider rotates its key out: the old key's tokens stop working within the JWKS max age.
    let old_kid = kid_of(&ops);
    let new_kid = provider.rotate().await;
    assert_ne!(old_kid, new_kid);
    let rotated = Instant::now();
    let refusal = loop {
        let reply = http.get(ADMIN_ROUTE, &ops).await;
        if reply.status != 200 {
            break reply;
        }
        assert!(rotated.elapsed() < JWKS_MAX_AGE + Duration::from_secs(5), "the rotated-out key is still trusted");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    println!("the rotated-out key was refused {:?} after the rotation", rotated.elapsed());
    refusal.refused(
        401,
        &format!("token rejected: signing key '{old_kid}' is not one of the keys of issuer '{}'", provider.issuer),
    );
    assert!(!refusal.text.contains("/jwks"), "a 401 must not reveal the JWKS URL: {}", refusal.text);
    let fresh = provider.token("ops-robot", "ops-secret", "urn:airlock").await;
    assert_eq!(kid_of(&fresh), new_kid);
    assert_eq!(http.get(ADMIN_ROUTE, &fresh).await.ok(200), json!([]));
}
