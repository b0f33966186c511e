//! Creating, listing, editing and archiving connections (admin only).

use crate::error::ApiError;
use crate::extract::{double_option, Admin, Body, Query};
use crate::views::ConnectionView;
use crate::AppState;
use airlock_domain::classification::validate_tag;
use airlock_domain::{now_millis, Connection, ConnectionKind, TagSet};
use airlock_protocol::generate_shared_secret;
use airlock_runtime::Context;
use airlock_services::connections::{self, ConnectionError, NewReceivingConnection, NewSendingConnection};
use airlock_services::platform;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

pub(crate) async fn load(ctx: &Context, id: &str) -> Result<Connection, ApiError> {
    ctx.repo.connection(id).await?.ok_or_else(|| ApiError::NotFound(format!("connection '{id}' not found")))
}

pub(crate) async fn view(ctx: &Context, connection: &Connection) -> Result<ConnectionView, ApiError> {
    let all = ctx.repo.connections(true).await?;
    let rules = ctx.repo.transforms(&connection.id).await?.len();
    Ok(ConnectionView::new(connection, rules, &all))
}

/// Records a connection change with the views before and after (views carry no secret).
pub(crate) async fn audit<T: serde::Serialize>(
    ctx: &Context,
    actor: &str,
    action: &str,
    target: &str,
    before: Option<&T>,
    after: Option<&T>,
) -> Result<(), ApiError> {
    let value = |v: Option<&T>| v.map(|v| serde_json::to_value(v).expect("views serialize"));
    platform::record(ctx, actor, action, target, value(before), value(after)).await?;
    Ok(())
}

/// The registry's own store holds users' plaintext files: never an inbox or outbox, under
/// its own label or any other that resolves to the same bucket or directory.
fn refuse_registry_store(ctx: &Context, store: &str) -> Result<(), ApiError> {
    let label = store.trim().to_ascii_uppercase();
    let registry = ctx.settings.registry_store.to_ascii_uppercase();
    if label == registry {
        return Err(ApiError::bad_request(format!(
            "store '{label}' holds the registry's own files and cannot be a connection's inbox or outbox"
        )));
    }
    if ctx.stores.same_place(&label, &registry) {
        return Err(ApiError::bad_request(format!(
            "store '{label}' is the registry's own bucket or directory (configured as '{registry}') and cannot be \
             a connection's inbox or outbox"
        )));
    }
    Ok(())
}

/// A store a connection may switch to: configured, and not the registry's own.
fn check_store(ctx: &Context, store: &str) -> Result<String, ApiError> {
    refuse_registry_store(ctx, store)?;
    let label = store.trim().to_ascii_uppercase();
    ctx.stores.get(&label).map_err(|_| ConnectionError::UnknownStore(label.clone()))?;
    Ok(label)
}

fn tag_set(tags: Vec<String>) -> Result<TagSet, ApiError> {
    let tags: TagSet = tags.into_iter().map(|t| t.trim().to_owned()).collect();
    for tag in &tags {
        validate_tag(tag).map_err(ApiError::BadRequest)?;
    }
    Ok(tags)
}

#[derive(Deserialize)]
pub struct ListQuery {
    kind: Option<String>,
    #[serde(default)]
    include_archived: bool,
}

pub async fn list(
    _: Admin,
    State(state): State<AppState>,
    Query(query): Query<ListQuery>,
) -> Result<Json<Vec<ConnectionView>>, ApiError> {
    let kind = match query.kind.as_deref() {
        None | Some("") => None,
        Some(text) => Some(ConnectionKind::parse(text).ok_or_else(|| {
            ApiError::bad_request(format!("connection kind '{text}' is neither 'sending' nor 'receiving'"))
        })?),
    };
    let ctx = state.ctx();
    let all = ctx.repo.connections(true).await?;
    let mut views = Vec::new();
    for connection in &all {
        if kind.is_some_and(|k| k != connection.kind) || (!query.include_archived && !connection.is_active()) {
            continue;
        }
        let rules = ctx.repo.transforms(&connection.id).await?.len();
        views.push(ConnectionView::new(connection, rules, &all));
    }
    views.sort_by(|a, b| a.name.to_lowercase().cmp(&b.name.to_lowercase()).then_with(|| a.id.cmp(&b.id)));
    Ok(Json(views))
}

#[derive(Deserialize)]
pub struct NewSending {
    name: String,
    #[serde(default)]
    description: String,
    outbox: String,
    shared_id: String,
    /// Absent: one is generated (the default, and the strongest choice).
    #[serde(default)]
    secret: Option<String>,
    #[serde(default)]
    secret_confirmation: Option<String>,
    #[serde(default)]
    permitted_level: Option<String>,
    #[serde(default)]
    permitted_tags: Vec<String>,
    #[serde(default)]
    certified: bool,
}

/// The one response that carries a shared secret: the credentials screen, which shows the
/// admin the secret (generated unless they typed one) so they can pass it to the partner.
pub async fn create_sending(
    Admin(caller): Admin,
    State(state): State<AppState>,
    Body(body): Body<NewSending>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let ctx = state.ctx();
    refuse_registry_store(ctx, &body.outbox)?;
    let (secret, secret_confirmation) = match body.secret {
        Some(typed) => (typed, body.secret_confirmation.unwrap_or_default()),
        None => {
            let generated = generate_shared_secret();
            (generated.clone(), generated)
        }
    };
    let connection = connections::create_sending(
        ctx,
        NewSendingConnection {
            name: body.name,
            description: body.description,
            outbox: body.outbox.trim().into(),
            shared_id: body.shared_id,
            secret: secret.clone(),
            secret_confirmation,
            permitted_level: body.permitted_level.filter(|l| !l.is_empty()),
            permitted_tags: tag_set(body.permitted_tags)?,
            certified: body.certified,
        },
    )
    .await?;
    tracing::info!(connection_id = %connection.id, shared_id = %connection.shared_id, "sending connection created");
    let view = view(ctx, &connection).await?;
    audit(ctx, &caller.sub, "connection.create", &connection.id, None, Some(&view)).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "connection": view,
            "credentials": { "shared_id": connection.shared_id, "shared_secret": secret },
        })),
    ))
}

#[derive(Deserialize)]
pub struct NewReceiving {
    name: String,
    #[serde(default)]
    description: String,
    inbox: String,
    shared_id: String,
    secret: String,
}

pub async fn create_receiving(
    Admin(caller): Admin,
    State(state): State<AppState>,
    Body(body): Body<NewReceiving>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let ctx = state.ctx();
    if ctx.repo.user(&caller.sub).await?.is_none() {
        return Err(ApiError::bad_request(format!(
            "admin '{}' is not a registry user, so cannot become the receiving connection's first owner",
            caller.sub
        )));
    }
    refuse_registry_store(ctx, &body.inbox)?;
    let connection = connections::create_receiving(
        ctx,
        NewReceivingConnection {
            name: body.name,
            description: body.description,
            inbox: body.inbox.trim().into(),
            shared_id: body.shared_id,
            secret: body.secret,
            creator_id: caller.sub.clone(),
        },
    )
    .await?;
    tracing::info!(connection_id = %connection.id, shared_id = %connection.shared_id, "receiving connection created");
    let view = view(ctx, &connection).await?;
    audit(ctx, &caller.sub, "connection.create", &connection.id, None, Some(&view)).await?;
    Ok((StatusCode::CREATED, Json(json!({ "connection": view }))))
}

pub async fn get(
    _: Admin,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<ConnectionView>, ApiError> {
    let connection = load(state.ctx(), &id).await?;
    Ok(Json(view(state.ctx(), &connection).await?))
}

#[derive(Deserialize)]
pub struct Patch {
    name: Option<String>,
    description: Option<String>,
    store: Option<String>,
    #[serde(default)]
    confirm_store_change: bool,
    secret: Option<String>,
    secret_confirmation: Option<String>,
    /// A sending secret generated here (the default way to reset one), returned once.
    #[serde(default)]
    generate_secret: bool,
    #[serde(default, deserialize_with = "double_option")]
    permitted_level: Option<Option<String>>,
    permitted_tags: Option<Vec<String>>,
}

pub async fn patch(
    Admin(caller): Admin,
    State(state): State<AppState>,
    Path(id): Path<String>,
    Body(mut body): Body<Patch>,
) -> Result<Json<Value>, ApiError> {
    let ctx = state.ctx();
    let mut connection = connections::active_connection(ctx, &id).await?;
    let before = view(ctx, &connection).await?;
    let previous_wrapped_secret = connection.wrapped_secret.clone();
    let generated = generated_secret(&connection, &mut body)?;
    let secret_replaced = body.secret.is_some();
    if let Some(name) = body.name {
        if name.trim().is_empty() {
            return Err(ConnectionError::EmptyName.into());
        }
        connection.name = name.trim().into();
    }
    if let Some(description) = body.description {
        connection.description = description;
    }
    if let Some(store) = body.store {
        let label = check_store(ctx, &store)?;
        if label != connection.store_label && !body.confirm_store_change {
            return Err(ApiError::bad_request(format!(
                "changing the store of '{}' from '{}' to '{label}' needs \"confirm_store_change\": true; \
                 it takes effect going forward and what was synced stays where it is",
                connection.name, connection.store_label
            )));
        }
        connection.store_label = label;
    }
    if let Some(secret) = body.secret {
        connections::check_secret(&secret, &[&connection.name, &connection.shared_id])?;
        // A sending secret is chosen here, so it is typed twice; a receiving one is copied
        // from the partner, so once is enough.
        if connection.kind == ConnectionKind::Sending && body.secret_confirmation.as_deref() != Some(secret.as_str()) {
            return Err(ConnectionError::SecretMismatch.into());
        }
        connection.wrapped_secret = ctx.master.wrap(&secret);
        tracing::info!(connection_id = %connection.id, "shared secret replaced");
    }
    let sending_only = body.permitted_level.is_some() || body.permitted_tags.is_some();
    if sending_only && connection.kind != ConnectionKind::Sending {
        return Err(ApiError::bad_request(format!(
            "permitted level and tags apply to sending connections only; '{}' is receiving",
            connection.name
        )));
    }
    if let Some(level) = body.permitted_level {
        connection.permitted_level = match level.filter(|l| !l.is_empty()) {
            None => None,
            Some(name) => {
                let platform = ctx.repo.platform().await?;
                Some(platform.level_by_name(&name).cloned().ok_or(ConnectionError::UnknownLevel(name))?)
            }
        };
    }
    if let Some(tags) = body.permitted_tags {
        let tags = tag_set(tags)?;
        let active = ctx.repo.active_control_tags().await?;
        let unknown: Vec<&str> = tags.difference(&active).map(String::as_str).collect();
        if !unknown.is_empty() {
            return Err(ConnectionError::UnknownTags(unknown.join(", ")).into());
        }
        connection.permitted_tags = tags;
    }
    ctx.repo.update_connection(&connection).await?;
    if secret_replaced {
        connections::secret_replaced(ctx, &connection, &previous_wrapped_secret).await?;
    }
    let after = view(ctx, &connection).await?;
    // The secret itself is never recorded, only that it was replaced.
    let mut shown = serde_json::to_value(&after).expect("views serialize");
    shown["secret_replaced"] = json!(secret_replaced);
    let before_value = serde_json::to_value(&before).expect("views serialize");
    platform::record(ctx, &caller.sub, "connection.update", &id, Some(before_value), Some(shown)).await?;
    let mut reply = serde_json::to_value(&after).expect("views serialize");
    if let Some(secret) = generated {
        // Shown this once, like the creation screen's, so the admin can pass it on.
        reply["credentials"] = json!({ "shared_id": connection.shared_id, "shared_secret": secret });
    }
    Ok(Json(reply))
}

/// `"generate_secret": true` stands for a generated secret typed twice; only a sending
/// connection chooses its secret (a receiving one takes the partner's).
fn generated_secret(connection: &Connection, body: &mut Patch) -> Result<Option<String>, ApiError> {
    if !body.generate_secret {
        return Ok(None);
    }
    if connection.kind != ConnectionKind::Sending {
        return Err(ApiError::bad_request(format!(
            "'{}' is a receiving connection: its secret is the one the partner generated, so it is pasted, \
             not generated here",
            connection.name
        )));
    }
    if body.secret.is_some() {
        return Err(ApiError::bad_request("give either \"secret\" or \"generate_secret\": true, not both"));
    }
    let secret = generate_shared_secret();
    body.secret = Some(secret.clone());
    body.secret_confirmation = Some(secret.clone());
    Ok(Some(secret))
}

#[derive(Deserialize)]
pub struct ArchiveBody {
    #[serde(default)]
    confirm: bool,
}

pub async fn archive(
    Admin(caller): Admin,
    State(state): State<AppState>,
    Path(id): Path<String>,
    Body(body): Body<ArchiveBody>,
) -> Result<Json<ConnectionView>, ApiError> {
    let ctx = state.ctx();
    let connection = load(ctx, &id).await?;
    if let Some(at) = connection.archived_at {
        return Err(ApiError::Conflict(format!(
            "connection '{id}' is already archived (since {at} ms after the epoch); archiving cannot be undone"
        )));
    }
    if !body.confirm {
        return Err(ApiError::bad_request(format!(
            "archiving '{}' stops its sync for good and cannot be undone; send {{\"confirm\": true}}",
            connection.name
        )));
    }
    let before = view(ctx, &connection).await?;
    ctx.repo.archive_connection(&id, now_millis()).await?;
    tracing::info!(connection_id = %id, "connection archived");
    let connection = load(ctx, &id).await?;
    let after = view(ctx, &connection).await?;
    audit(ctx, &caller.sub, "connection.archive", &id, Some(&before), Some(&after)).await?;
    Ok(Json(after))
}
