//! The caller's own view of themselves, and their own feature flags.

use crate::auth::Caller;
use crate::error::ApiError;
use crate::extract::{Body, SignedIn};
use crate::views::{ClearanceView, MeView};
use crate::AppState;
use airlock_repo::UserAccount;
use airlock_services::platform;
use axum::extract::State;
use axum::Json;
use serde::Deserialize;

fn me_view(state: &AppState, caller: &Caller, account: &UserAccount) -> MeView {
    MeView {
        id: account.user.id.clone(),
        name: account.user.name.clone(),
        email: account.email.clone(),
        roles: caller.roles.iter().cloned().collect(),
        is_admin: caller.has_role(state.admin_role()),
        clearance: ClearanceView::from(&account.user.clearance),
        secure_connections: account.secure_connections,
    }
}

pub async fn me(State(state): State<AppState>, SignedIn(caller, account): SignedIn) -> Json<MeView> {
    Json(me_view(&state, &caller, &account))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Features {
    secure_connections: bool,
}

/// Settings > Experimental Features: any signed-in user switches their own flag.
pub async fn set_features(
    State(state): State<AppState>,
    SignedIn(caller, account): SignedIn,
    Body(body): Body<Features>,
) -> Result<Json<MeView>, ApiError> {
    let account = platform::set_own_features(state.ctx(), &account.user.id, body.secure_connections).await?;
    tracing::info!(user = %account.user.id, secure_connections = account.secure_connections, "feature flags set");
    Ok(Json(me_view(&state, &caller, &account)))
}
