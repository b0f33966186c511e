//! The registry API: any registry user uploads, lists what they may see, reads, shares
//! with a sending connection, and reshares to a viewer. Classification rules live in the
//! registry service of airlock-services; this module only adapts HTTP to it.

use crate::error::ApiError;
use crate::extract::{Body, Query, RegistryUser};
use crate::views::{FileView, NamedRef};
use crate::AppState;
use airlock_domain::{ConnectionKind, Resource, TagSet};
use airlock_runtime::Context;
use airlock_services::registry::{self, RegistryError};
use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use futures::TryStreamExt;
use serde::Deserialize;

async fn file_view(ctx: &Context, resource: &Resource) -> Result<FileView, ApiError> {
    let size = ctx.repo.latest_revision(&resource.id).await?.map(|r| r.size).unwrap_or(0);
    Ok(FileView::new(resource, size))
}

#[derive(Deserialize)]
pub struct UploadQuery {
    name: String,
    level: String,
    #[serde(default)]
    tags: String,
}

/// The body is streamed into the registry store as it arrives: no size cap, bounded memory.
pub async fn upload(
    RegistryUser(user): RegistryUser,
    State(state): State<AppState>,
    Query(query): Query<UploadQuery>,
    body: axum::body::Body,
) -> Result<(StatusCode, Json<FileView>), ApiError> {
    let name = query.name.trim();
    airlock_domain::entities::validate_file_name(name).map_err(ApiError::bad_request)?;
    let tags: TagSet = query.tags.split(',').map(str::trim).filter(|t| !t.is_empty()).map(String::from).collect();
    let stream = body.into_data_stream().map_err(std::io::Error::other);
    let reader = tokio_util::io::StreamReader::new(stream);
    let ctx = state.ctx();
    let (resource, revision) = registry::upload(ctx, &user.id, name, query.level.trim(), tags, reader).await?;
    tracing::info!(file_id = %resource.id, size = revision.size, owner = %user.id, "file uploaded");
    Ok((StatusCode::CREATED, Json(FileView::new(&resource, revision.size))))
}

pub async fn list(
    RegistryUser(user): RegistryUser,
    State(state): State<AppState>,
) -> Result<Json<Vec<FileView>>, ApiError> {
    let ctx = state.ctx();
    let mut files = Vec::new();
    for resource in registry::files_visible_to(ctx, &user.id).await? {
        files.push(file_view(ctx, &resource).await?);
    }
    files.sort_by(|a, b| a.name.cmp(&b.name).then_with(|| a.id.cmp(&b.id)));
    Ok(Json(files))
}

/// Streams the newest revision. A file the caller can't see and a file that doesn't exist
/// get the same 403, so ids can't be probed.
pub async fn content(
    RegistryUser(user): RegistryUser,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let ctx = state.ctx();
    let visible = registry::files_visible_to(ctx, &user.id).await?;
    let Some(resource) = visible.into_iter().find(|r| r.id == id) else {
        return Err(RegistryError::Forbidden {
            user: user.id,
            action: "read",
            file: id,
            why: "not visible to this user (ownership, level or tags)".into(),
        }
        .into());
    };
    let revision = ctx
        .repo
        .latest_revision(&id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("file '{id}' has no revision yet")))?;
    let store = ctx.registry_store().map_err(RegistryError::from)?;
    let reader = airlock_store::reader(&store, &revision.blob_key)
        .await
        .map_err(|e| ApiError::Internal(format!("reading file '{id}' revision '{}' failed: {e}", revision.id)))?;
    let body = axum::body::Body::from_stream(tokio_util::io::ReaderStream::new(reader));
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/octet-stream"));
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(revision.size));
    if let Ok(value) = HeaderValue::from_str(&format!("attachment; filename=\"{}\"", header_safe(&resource.name))) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    Ok(response)
}

/// A file name as a quoted header parameter: quotes, backslashes and non-ASCII become '_'.
fn header_safe(name: &str) -> String {
    name.chars().map(|c| if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' { c } else { '_' }).collect()
}

#[derive(Deserialize)]
pub struct ShareInput {
    connection_id: String,
    #[serde(default)]
    certified: bool,
}

pub async fn share(
    RegistryUser(user): RegistryUser,
    State(state): State<AppState>,
    Path(id): Path<String>,
    Body(body): Body<ShareInput>,
) -> Result<StatusCode, ApiError> {
    registry::share_with_connection(state.ctx(), &user.id, &id, &body.connection_id, body.certified).await?;
    tracing::info!(file_id = %id, connection_id = %body.connection_id, by = %user.id, "file shared");
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
pub struct ViewerInput {
    user_id: String,
}

pub async fn add_viewer(
    RegistryUser(user): RegistryUser,
    State(state): State<AppState>,
    Path(id): Path<String>,
    Body(body): Body<ViewerInput>,
) -> Result<StatusCode, ApiError> {
    registry::reshare_to_user(state.ctx(), &user.id, &id, &body.user_id).await?;
    tracing::info!(file_id = %id, viewer = %body.user_id, by = %user.id, "file reshared to a viewer");
    Ok(StatusCode::NO_CONTENT)
}

pub async fn sharing_targets(
    RegistryUser(_): RegistryUser,
    State(state): State<AppState>,
) -> Result<Json<Vec<NamedRef>>, ApiError> {
    let mut targets: Vec<NamedRef> = state
        .ctx()
        .repo
        .connections(false)
        .await?
        .into_iter()
        .filter(|c| c.kind == ConnectionKind::Sending)
        .map(|c| NamedRef { id: c.id, name: c.name })
        .collect();
    targets.sort_by_key(|t| t.name.to_lowercase());
    Ok(Json(targets))
}
