//! api: the admin panel's JSON API, the registry API, and the embedded token issuer, as
//! one axum server per platform. Every `/api/v1` route checks an OIDC bearer token; see
//! README.md for the contract.

pub mod auth;
pub mod config;
pub mod error;
mod extract;
pub mod issuer;
pub mod openapi;
mod routes;
pub mod views;
pub mod web;

pub use auth::{Caller, Verifier};
pub use config::{ApiConfig, AuthConfig, ClearanceClaims};
pub use error::ApiError;
pub use issuer::LocalIssuer;
pub use routes::route_list;

use airlock_runtime::Context;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// What every handler works with: the platform's context, the token verifier, and the
/// role names. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Shared>,
}

struct Shared {
    ctx: Arc<Context>,
    verifier: Verifier,
    issuer: Option<Arc<LocalIssuer>>,
    admin_role: String,
    service_role: String,
    clearance_claims: ClearanceClaims,
}

impl AppState {
    /// Opens (or creates) the local issuer's key when the config asks for one.
    pub fn new(ctx: Arc<Context>, config: &ApiConfig) -> Result<Self, ApiError> {
        config.auth.validate()?;
        let (verifier, issuer) = match &config.auth {
            AuthConfig::Local { key_dir, issuer, audience } => {
                let local = Arc::new(LocalIssuer::open(key_dir, issuer, audience)?);
                (Verifier::fixed(issuer, audience, &local.jwks()), Some(local))
            }
            AuthConfig::Oidc { issuer, jwks_url, audience, roles, jwks_max_age } => {
                let verifier = Verifier::remote(issuer, audience, jwks_url).with_roles(roles.clone());
                (verifier.with_jwks_max_age(*jwks_max_age), None)
            }
        };
        for (what, role) in [("admin", &config.admin_role), ("service", &config.service_role)] {
            if role.trim().is_empty() {
                return Err(ApiError::Config(format!("the {what} role name is empty")));
            }
        }
        Ok(Self {
            inner: Arc::new(Shared {
                ctx,
                verifier,
                issuer,
                admin_role: config.admin_role.clone(),
                service_role: config.service_role.clone(),
                clearance_claims: config.clearance_claims.clone(),
            }),
        })
    }

    pub fn ctx(&self) -> &Arc<Context> {
        &self.inner.ctx
    }

    pub fn verifier(&self) -> &Verifier {
        &self.inner.verifier
    }

    /// The embedded issuer, when this server runs one.
    pub fn local_issuer(&self) -> Option<&LocalIssuer> {
        self.inner.issuer.as_deref()
    }

    pub fn admin_role(&self) -> &str {
        &self.inner.admin_role
    }

    pub fn service_role(&self) -> &str {
        &self.inner.service_role
    }

    pub fn clearance_claims(&self) -> &ClearanceClaims {
        &self.inner.clearance_claims
    }
}

/// The whole application: API routes, the issuer's routes (in local mode), and the web pages.
pub fn router(state: AppState) -> axum::Router {
    routes::build(state.local_issuer().is_some()).merge(web::routes()).fallback(routes::not_found).with_state(state)
}

/// A server started by `start`. It stops when this value is dropped.
pub struct RunningApi {
    /// `http://127.0.0.1:PORT` (the bound address, with the port chosen when 0 was asked for).
    pub url: String,
    pub addr: SocketAddr,
    state: AppState,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl RunningApi {
    /// A token from the embedded issuer. Panics when the server verifies tokens of an
    /// external issuer instead: there is no key here to sign with.
    pub fn mint(&self, sub: &str, roles: &[&str], ttl: Duration) -> String {
        self.state
            .local_issuer()
            .expect("RunningApi::mint needs AuthConfig::Local; this server trusts an external issuer")
            .mint(sub, roles, ttl)
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until the server fails (it does not stop on its own otherwise).
    pub async fn wait(mut self) -> std::io::Result<()> {
        let task = self.task.take().expect("the server task is present until waited for");
        match task.await {
            Ok(result) => result,
            Err(e) => Err(std::io::Error::other(format!("api server task ended abnormally: {e}"))),
        }
    }
}

impl Drop for RunningApi {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

/// Binds `config.bind` (port 0 picks a free port), spawns the server and returns at once.
pub async fn start(ctx: Arc<Context>, config: ApiConfig) -> Result<RunningApi, ApiError> {
    let state = AppState::new(ctx, &config)?;
    let listener = tokio::net::TcpListener::bind(config.bind)
        .await
        .map_err(|source| ApiError::Bind { addr: config.bind, source })?;
    let addr = listener.local_addr().map_err(|source| ApiError::Bind { addr: config.bind, source })?;
    let app = router(state.clone());
    let task = tokio::spawn(async move { axum::serve(listener, app).await });
    let host = if addr.ip().is_unspecified() { "127.0.0.1".to_string() } else { addr.ip().to_string() };
    let url = if addr.is_ipv6() && !addr.ip().is_unspecified() {
        format!("http://[{host}]:{}", addr.port())
    } else {
        format!("http://{host}:{}", addr.port())
    };
    tracing::info!(%url, "api listening");
    Ok(RunningApi { url, addr, state, task: Some(task) })
}
