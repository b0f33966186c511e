//! Routes about the platform itself: health, the API description, the embedded issuer's
//! discovery documents, the classification scale, and the user directory.

use crate::error::ApiError;
use crate::extract::{Admin, Query};
use crate::views::{LevelView, NamedRef};
use crate::AppState;
use airlock_runtime::Context;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

pub async fn healthz() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

pub async fn openapi() -> Json<Value> {
    Json(crate::openapi::document())
}

fn local_issuer(state: &AppState) -> Result<&crate::LocalIssuer, ApiError> {
    state.local_issuer().ok_or_else(|| ApiError::NotFound("this server runs no local token issuer".into()))
}

/// Enough OIDC discovery for a client to find the keys; this issuer has no login flow.
pub async fn openid_configuration(State(state): State<AppState>, headers: HeaderMap) -> Result<Json<Value>, ApiError> {
    let issuer = local_issuer(&state)?;
    let host = headers.get(axum::http::header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("localhost");
    Ok(Json(json!({
        "issuer": issuer.issuer(),
        "jwks_uri": format!("http://{host}/oauth/v2/keys"),
        "id_token_signing_alg_values_supported": ["ES256"],
        "subject_types_supported": ["public"],
        "response_types_supported": [],
        "claims_supported": ["sub", "iss", "aud", "exp", "iat", "nbf", crate::issuer::ZITADEL_ROLES_CLAIM],
    })))
}

pub async fn jwks(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    Ok(Json(local_issuer(&state)?.jwks()))
}

#[derive(Serialize)]
pub struct PlatformView {
    infosec_enabled: bool,
    levels: Vec<LevelView>,
    max_level: LevelView,
    control_tags: Vec<String>,
    tags: Vec<TagView>,
    stores: Vec<String>,
}

#[derive(Serialize)]
pub struct TagView {
    tag: String,
    active: bool,
}

pub(crate) async fn platform_view(ctx: &Context) -> Result<PlatformView, ApiError> {
    let settings = ctx.repo.platform().await?;
    let mut levels = settings.levels.clone();
    levels.sort();
    let registry_store = ctx.settings.registry_store.to_ascii_uppercase();
    let tags = ctx.repo.control_tags().await?;
    Ok(PlatformView {
        infosec_enabled: settings.infosec_enabled,
        levels: levels.iter().map(LevelView::from).collect(),
        max_level: LevelView::from(&settings.max_level),
        control_tags: tags.iter().filter(|t| t.active).map(|t| t.tag.clone()).collect(),
        tags: tags.into_iter().map(|t| TagView { tag: t.tag, active: t.active }).collect(),
        // The registry's own store holds users' files; it is never an inbox or outbox.
        stores: ctx.stores.labels().into_iter().filter(|label| *label != registry_store).collect(),
    })
}

pub async fn platform(_: Admin, State(state): State<AppState>) -> Result<Json<PlatformView>, ApiError> {
    Ok(Json(platform_view(state.ctx()).await?))
}

#[derive(Deserialize)]
pub struct UserSearch {
    #[serde(default)]
    search: String,
}

pub async fn users(
    _: Admin,
    State(state): State<AppState>,
    Query(query): Query<UserSearch>,
) -> Result<Json<Vec<NamedRef>>, ApiError> {
    let needle = query.search.trim().to_lowercase();
    let mut users: Vec<NamedRef> = state
        .ctx()
        .repo
        .users()
        .await?
        .iter()
        .filter(|u| {
            needle.is_empty() || u.name.to_lowercase().contains(&needle) || u.id.to_lowercase().contains(&needle)
        })
        .map(NamedRef::from)
        .collect();
    users.sort_by(|a, b| a.name.to_lowercase().cmp(&b.name.to_lowercase()).then_with(|| a.id.cmp(&b.id)));
    Ok(Json(users))
}
