//! A connection's transform rules and a receiving connection's owners (admin only).

use super::connections::{audit, load};
use crate::error::ApiError;
use crate::extract::{Admin, Body};
use crate::views::{NamedRef, RuleView};
use crate::AppState;
use airlock_domain::{Connection, ConnectionKind, RuleKind, TransformRule};
use airlock_runtime::Context;
use airlock_services::connections;
use axum::extract::{Path, State};
use axum::Json;
use serde::{Deserialize, Serialize};

/// What the transform editor needs: the rules as stored (they are applied removes, maps,
/// adds whatever this order), the tags each dropdown may offer, and the incoming tags no
/// rule covers (a receiving sync fails on them).
#[derive(Serialize)]
pub struct TransformsView {
    rules: Vec<RuleView>,
    predicate_choices: Vec<String>,
    value_choices: Vec<String>,
    uncovered_incoming_tags: Vec<String>,
}

async fn transforms_view(ctx: &Context, connection: &Connection) -> Result<TransformsView, ApiError> {
    let rules = ctx.repo.transforms(&connection.id).await?;
    let (predicates, values, uncovered) = match connection.kind {
        ConnectionKind::Sending => {
            (connection.permitted_tags.clone(), connection.permitted_tags.clone(), Default::default())
        }
        ConnectionKind::Receiving => (
            ctx.repo.incoming_tags(&connection.id).await?,
            ctx.repo.active_control_tags().await?,
            connections::uncovered_incoming_tags(ctx, &connection.id).await?,
        ),
    };
    Ok(TransformsView {
        rules: rules.iter().map(RuleView::from).collect(),
        predicate_choices: predicates.into_iter().collect(),
        value_choices: values.into_iter().collect(),
        uncovered_incoming_tags: uncovered.into_iter().collect(),
    })
}

pub async fn get_transforms(
    _: Admin,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<TransformsView>, ApiError> {
    let connection = load(state.ctx(), &id).await?;
    Ok(Json(transforms_view(state.ctx(), &connection).await?))
}

#[derive(Deserialize)]
pub struct RuleInput {
    #[serde(default)]
    id: Option<String>,
    kind: String,
    #[serde(default)]
    predicate: Option<String>,
    #[serde(default)]
    value: Option<String>,
    #[serde(default)]
    description: String,
}

#[derive(Deserialize)]
pub struct RulesInput {
    rules: Vec<RuleInput>,
}

/// Turns one listed rule into a domain rule; `position` (1-based) names it in messages,
/// since a new rule has no id yet.
fn to_rule(position: usize, input: RuleInput) -> Result<TransformRule, ApiError> {
    let text = |v: Option<String>| v.map(|t| t.trim().to_owned()).filter(|t| !t.is_empty());
    let (predicate, value) = (text(input.predicate), text(input.value));
    let refuse = |why: &str| ApiError::bad_request(format!("transform rule {position} ({}): {why}", input.kind));
    let kind = match (input.kind.as_str(), predicate, value) {
        ("add", None, Some(value)) => RuleKind::Add { value },
        ("add", Some(_), _) => return Err(refuse("an add rule takes no predicate")),
        ("add", None, None) => return Err(refuse("an add rule needs a value")),
        ("remove", Some(predicate), None) => RuleKind::Remove { predicate },
        ("remove", _, Some(_)) => return Err(refuse("a remove rule takes no value")),
        ("remove", None, None) => return Err(refuse("a remove rule needs a predicate")),
        ("map", Some(predicate), Some(value)) => RuleKind::Map { predicate, value },
        ("map", _, _) => return Err(refuse("a map rule needs a predicate and a value")),
        (other, _, _) => {
            return Err(ApiError::bad_request(format!(
                "transform rule {position}: kind '{other}' is not one of add, remove, map"
            )))
        }
    };
    if input.description.trim().is_empty() {
        return Err(refuse("no description; every rule must say why it exists"));
    }
    Ok(TransformRule { id: input.id.unwrap_or_default(), kind, description: input.description.trim().into() })
}

pub async fn put_transforms(
    Admin(caller): Admin,
    State(state): State<AppState>,
    Path(id): Path<String>,
    Body(body): Body<RulesInput>,
) -> Result<Json<TransformsView>, ApiError> {
    let ctx = state.ctx();
    let rules = body.rules.into_iter().enumerate().map(|(i, r)| to_rule(i + 1, r)).collect::<Result<Vec<_>, _>>()?;
    let shown = |rules: &[TransformRule]| rules.iter().map(RuleView::from).collect::<Vec<_>>();
    let before = shown(&ctx.repo.transforms(&id).await?);
    connections::set_transforms(ctx, &id, rules).await?;
    tracing::info!(connection_id = %id, "transform rules replaced");
    let after = shown(&ctx.repo.transforms(&id).await?);
    audit(ctx, &caller.sub, "connection.transforms", &id, Some(&before), Some(&after)).await?;
    let connection = load(ctx, &id).await?;
    Ok(Json(transforms_view(ctx, &connection).await?))
}

fn receiving_only(connection: &Connection) -> Result<(), ApiError> {
    if connection.kind != ConnectionKind::Receiving {
        return Err(ApiError::bad_request(format!(
            "owners apply to receiving connections only; '{}' is a sending connection",
            connection.name
        )));
    }
    Ok(())
}

async fn owners_view(ctx: &Context, connection_id: &str) -> Result<Vec<NamedRef>, ApiError> {
    let mut owners = Vec::new();
    for id in ctx.repo.owners(connection_id).await? {
        let name = ctx.repo.user(&id).await?.map(|u| u.name).unwrap_or_else(|| id.clone());
        owners.push(NamedRef { id, name });
    }
    Ok(owners)
}

pub async fn get_owners(
    _: Admin,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Vec<NamedRef>>, ApiError> {
    receiving_only(&load(state.ctx(), &id).await?)?;
    Ok(Json(owners_view(state.ctx(), &id).await?))
}

#[derive(Deserialize)]
pub struct OwnersInput {
    user_ids: Vec<String>,
}

pub async fn put_owners(
    Admin(caller): Admin,
    State(state): State<AppState>,
    Path(id): Path<String>,
    Body(body): Body<OwnersInput>,
) -> Result<Json<Vec<NamedRef>>, ApiError> {
    let ctx = state.ctx();
    let connection = connections::active_connection(ctx, &id).await?;
    receiving_only(&connection)?;
    let mut user_ids: Vec<String> = Vec::new();
    for user_id in body.user_ids {
        if ctx.repo.user(&user_id).await?.is_none() {
            return Err(ApiError::bad_request(format!("user '{user_id}' not found; owners must be registry users")));
        }
        if !user_ids.contains(&user_id) {
            user_ids.push(user_id);
        }
    }
    let before = ctx.repo.owners(&id).await?;
    ctx.repo.set_owners(&id, &user_ids).await?;
    tracing::info!(connection_id = %id, owners = user_ids.len(), "owners replaced");
    let after = ctx.repo.owners(&id).await?;
    audit(ctx, &caller.sub, "connection.owners", &id, Some(&before), Some(&after)).await?;
    Ok(Json(owners_view(ctx, &id).await?))
}
