//! The route table. Routes are added through `Table`, which records each method and path,
//! so that the OpenAPI test can compare the document with what the router really serves.

mod admin;
mod config;
mod connections;
mod file_changes;
mod files;
mod me;
mod platform;
mod sync;

use crate::error::ApiError;
use crate::AppState;
use axum::handler::Handler;
use axum::http::{Method, Uri};
use axum::routing::{on, MethodFilter};
use axum::Router;

struct Table {
    router: Router<AppState>,
    entries: Vec<(&'static str, &'static str)>,
}

impl Table {
    fn new() -> Self {
        Self { router: Router::new(), entries: Vec::new() }
    }

    fn add<H, T>(mut self, method: &'static str, path: &'static str, handler: H) -> Self
    where
        H: Handler<T, AppState>,
        T: 'static,
    {
        let filter = match method {
            "GET" => MethodFilter::GET,
            "POST" => MethodFilter::POST,
            "PUT" => MethodFilter::PUT,
            "PATCH" => MethodFilter::PATCH,
            "DELETE" => MethodFilter::DELETE,
            other => panic!("route table: method {other} is not used by this api"),
        };
        self.router = self.router.route(path, on(filter, handler));
        self.entries.push((method, path));
        self
    }
}

fn table(local_issuer: bool) -> Table {
    let mut table = Table::new()
        .add("GET", "/healthz", platform::healthz)
        .add("GET", "/openapi.json", platform::openapi)
        .add("GET", "/api/v1/platform", platform::platform)
        .add("GET", "/api/v1/users", platform::users)
        .add("GET", "/api/v1/me", me::me)
        .add("PUT", "/api/v1/me/features", me::set_features)
        .add("PUT", "/api/v1/platform/infosec", admin::set_infosec)
        .add("POST", "/api/v1/platform/levels", admin::add_level)
        .add("PATCH", "/api/v1/platform/levels/{name}", admin::update_level)
        .add("PUT", "/api/v1/platform/max-level", admin::set_max_level)
        .add("POST", "/api/v1/platform/tags", admin::add_tag)
        .add("PATCH", "/api/v1/platform/tags/{tag}", admin::set_tag)
        .add("GET", "/api/v1/platform/users", admin::users)
        .add("PATCH", "/api/v1/platform/users/{id}", admin::update_user)
        .add("GET", "/api/v1/platform/audit", admin::audit)
        .add("GET", "/api/v1/connections", connections::list)
        .add("POST", "/api/v1/connections/sending", connections::create_sending)
        .add("POST", "/api/v1/connections/receiving", connections::create_receiving)
        .add("GET", "/api/v1/connections/{id}", connections::get)
        .add("PATCH", "/api/v1/connections/{id}", connections::patch)
        .add("POST", "/api/v1/connections/{id}/archive", connections::archive)
        .add("GET", "/api/v1/connections/{id}/transforms", config::get_transforms)
        .add("PUT", "/api/v1/connections/{id}/transforms", config::put_transforms)
        .add("GET", "/api/v1/connections/{id}/owners", config::get_owners)
        .add("PUT", "/api/v1/connections/{id}/owners", config::put_owners)
        .add("GET", "/api/v1/connections/{id}/sync-events", sync::events)
        .add("GET", "/api/v1/connections/{id}/sync-events/{sync_id}/rows", sync::rows)
        .add("POST", "/api/v1/connections/{id}/sync", sync::start)
        .add("POST", "/api/v1/files", files::upload)
        .add("GET", "/api/v1/files", files::list)
        .add("GET", "/api/v1/files/{id}/content", files::content)
        .add("PATCH", "/api/v1/files/{id}", file_changes::reclassify)
        .add("POST", "/api/v1/files/{id}/revisions", file_changes::upload_revision)
        .add("GET", "/api/v1/files/{id}/revisions", file_changes::revisions)
        .add("POST", "/api/v1/files/{id}/shares", files::share)
        .add("GET", "/api/v1/files/{id}/shares", file_changes::shares)
        .add("DELETE", "/api/v1/files/{id}/shares/{connection_id}", file_changes::unshare)
        .add("POST", "/api/v1/files/{id}/viewers", files::add_viewer)
        .add("GET", "/api/v1/sharing-targets", files::sharing_targets);
    if local_issuer {
        table = table.add("GET", "/.well-known/openid-configuration", platform::openid_configuration).add(
            "GET",
            "/oauth/v2/keys",
            platform::jwks,
        );
    }
    table
}

pub(crate) fn build(local_issuer: bool) -> Router<AppState> {
    table(local_issuer).router
}

/// Every (method, path) the API serves, the embedded issuer's routes included, the web
/// pages (owned by `web`) not.
pub fn route_list() -> Vec<(&'static str, &'static str)> {
    table(true).entries
}

pub(crate) async fn not_found(method: Method, uri: Uri) -> ApiError {
    ApiError::NotFound(format!("no route for {method} {}", uri.path()))
}
