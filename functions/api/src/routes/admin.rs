//! Platform administration (admin with the feature flag): the infosec switch, levels, the
//! max level, control tags, users' clearances and flags, and the audit log.

use super::platform::{platform_view, PlatformView};
use crate::error::ApiError;
use crate::extract::{Admin, Body, Query};
use crate::views::{AuditPage, AuditView, UserView, UsersPage};
use crate::AppState;
use airlock_services::platform::{self, ClearanceInput};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;

/// Page sizes the lists accept; larger pages are refused rather than cut silently.
const DEFAULT_PAGE: u32 = 50;
const MAX_PAGE: u32 = 500;

#[derive(Deserialize)]
pub struct Paging {
    #[serde(default)]
    search: String,
    limit: Option<u32>,
    #[serde(default)]
    offset: u32,
}

fn limit(paging: &Paging) -> Result<u32, ApiError> {
    match paging.limit {
        None => Ok(DEFAULT_PAGE),
        Some(n) if (1..=MAX_PAGE).contains(&n) => Ok(n),
        Some(n) => Err(ApiError::bad_request(format!("limit {n} is outside 1..={MAX_PAGE}"))),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InfosecInput {
    enabled: bool,
}

pub async fn set_infosec(
    Admin(caller): Admin,
    State(state): State<AppState>,
    Body(body): Body<InfosecInput>,
) -> Result<Json<PlatformView>, ApiError> {
    platform::set_infosec(state.ctx(), &caller.sub, body.enabled).await?;
    Ok(Json(platform_view(state.ctx()).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewLevel {
    name: String,
    order: i64,
}

pub async fn add_level(
    Admin(caller): Admin,
    State(state): State<AppState>,
    Body(body): Body<NewLevel>,
) -> Result<(StatusCode, Json<PlatformView>), ApiError> {
    platform::add_level(state.ctx(), &caller.sub, &body.name, body.order).await?;
    Ok((StatusCode::CREATED, Json(platform_view(state.ctx()).await?)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LevelPatch {
    name: Option<String>,
    order: Option<i64>,
}

pub async fn update_level(
    Admin(caller): Admin,
    State(state): State<AppState>,
    Path(name): Path<String>,
    Body(body): Body<LevelPatch>,
) -> Result<Json<PlatformView>, ApiError> {
    platform::update_level(state.ctx(), &caller.sub, &name, body.name.as_deref(), body.order).await?;
    Ok(Json(platform_view(state.ctx()).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MaxLevel {
    name: String,
}

pub async fn set_max_level(
    Admin(caller): Admin,
    State(state): State<AppState>,
    Body(body): Body<MaxLevel>,
) -> Result<Json<PlatformView>, ApiError> {
    platform::set_max_level(state.ctx(), &caller.sub, &body.name).await?;
    Ok(Json(platform_view(state.ctx()).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewTag {
    tag: String,
}

pub async fn add_tag(
    Admin(caller): Admin,
    State(state): State<AppState>,
    Body(body): Body<NewTag>,
) -> Result<(StatusCode, Json<PlatformView>), ApiError> {
    platform::add_tag(state.ctx(), &caller.sub, &body.tag).await?;
    Ok((StatusCode::CREATED, Json(platform_view(state.ctx()).await?)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TagPatch {
    active: bool,
}

pub async fn set_tag(
    Admin(caller): Admin,
    State(state): State<AppState>,
    Path(tag): Path<String>,
    Body(body): Body<TagPatch>,
) -> Result<Json<PlatformView>, ApiError> {
    let withdrawn = platform::set_tag_active(state.ctx(), &caller.sub, &tag, body.active).await?;
    tracing::info!(tag, active = body.active, withdrawn, "control tag switched");
    Ok(Json(platform_view(state.ctx()).await?))
}

pub async fn users(
    _: Admin,
    State(state): State<AppState>,
    Query(paging): Query<Paging>,
) -> Result<Json<UsersPage>, ApiError> {
    let page = platform::search_users(state.ctx(), &paging.search, limit(&paging)?, paging.offset).await?;
    Ok(Json(UsersPage { total: page.total, users: page.items.iter().map(UserView::from).collect() }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClearanceBody {
    level: String,
    #[serde(default)]
    tags: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserPatch {
    clearance: Option<ClearanceBody>,
    secure_connections: Option<bool>,
}

pub async fn update_user(
    Admin(caller): Admin,
    State(state): State<AppState>,
    Path(id): Path<String>,
    Body(body): Body<UserPatch>,
) -> Result<Json<UserView>, ApiError> {
    let clearance = body
        .clearance
        .map(|c| ClearanceInput { level: c.level, tags: c.tags.into_iter().map(|t| t.trim().to_owned()).collect() });
    let account =
        platform::update_user(state.ctx(), &caller.sub, &id, clearance.as_ref(), body.secure_connections).await?;
    Ok(Json(UserView::from(&account)))
}

pub async fn audit(
    _: Admin,
    State(state): State<AppState>,
    Query(paging): Query<Paging>,
) -> Result<Json<AuditPage>, ApiError> {
    let page = platform::audit(state.ctx(), limit(&paging)?, paging.offset).await?;
    Ok(Json(AuditPage { total: page.total, entries: page.items.iter().map(AuditView::from).collect() }))
}
