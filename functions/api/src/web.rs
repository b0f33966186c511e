//! The web admin page: one HTML document, its script modules and its stylesheet, embedded in
//! the binary and served without authentication (the page asks for a token and sends it as a
//! bearer token to `/api/v1`). Nothing is loaded from anywhere else, nothing read from disk.

use axum::extract::Path;
use axum::http::{header, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

pub const INDEX_HTML: &str = include_str!("../web/index.html");
pub const STYLE_CSS: &str = include_str!("../web/style.css");

/// The page's ES modules, served under `/assets/js/<name>`; `main.js` is the entry point
/// and imports the others by relative path. A module missing here is a 404 in the browser.
pub const JS_MODULES: &[(&str, &str)] = &[
    ("main.js", include_str!("../web/js/main.js")),
    ("api.js", include_str!("../web/js/api.js")),
    ("audit.js", include_str!("../web/js/audit.js")),
    ("connection-dialogs.js", include_str!("../web/js/connection-dialogs.js")),
    ("connections.js", include_str!("../web/js/connections.js")),
    ("dom.js", include_str!("../web/js/dom.js")),
    ("file-dialogs.js", include_str!("../web/js/file-dialogs.js")),
    ("files.js", include_str!("../web/js/files.js")),
    ("owners.js", include_str!("../web/js/owners.js")),
    ("platform.js", include_str!("../web/js/platform.js")),
    ("platform-users.js", include_str!("../web/js/platform-users.js")),
    ("router.js", include_str!("../web/js/router.js")),
    ("secret-choice.js", include_str!("../web/js/secret-choice.js")),
    ("session.js", include_str!("../web/js/session.js")),
    ("settings.js", include_str!("../web/js/settings.js")),
    ("state.js", include_str!("../web/js/state.js")),
    ("status.js", include_str!("../web/js/status.js")),
    ("sync-status.js", include_str!("../web/js/sync-status.js")),
    ("transforms.js", include_str!("../web/js/transforms.js")),
];

/// Page paths (client-side routing picks the view) and the assets.
pub fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/admin", get(index))
        .route("/admin/secure-connections", get(index))
        .route("/admin/secure-connections/{kind}/{id}/sync-status", get(index))
        .route("/admin/platform", get(index))
        .route("/files", get(index))
        .route("/settings", get(index))
        .route("/assets/js/{module}", get(js_module))
        .route("/assets/style.css", get(style_css))
}

/// Only this origin's script, styles and API; no framing; no referrer (the token may
/// arrive in the URL fragment, which browsers never send, but be strict anyway).
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
     connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

fn asset(content_type: &'static str, body: &'static str) -> Response {
    let headers = [
        (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
        (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        (header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")),
        (header::REFERRER_POLICY, HeaderValue::from_static("no-referrer")),
        (header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CONTENT_SECURITY_POLICY)),
        (HeaderName::from_static("x-frame-options"), HeaderValue::from_static("DENY")),
    ];
    (headers, body).into_response()
}

async fn index() -> Response {
    asset("text/html; charset=utf-8", INDEX_HTML)
}

fn module(name: &str) -> Option<&'static str> {
    JS_MODULES.iter().find(|(n, _)| *n == name).map(|(_, text)| *text)
}

async fn js_module(Path(name): Path<String>) -> Response {
    match module(&name) {
        Some(text) => asset("text/javascript; charset=utf-8", text),
        None => (StatusCode::NOT_FOUND, format!("no script module '{name}'")).into_response(),
    }
}

async fn style_css() -> Response {
    asset("text/css; charset=utf-8", STYLE_CSS)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all_files() -> Vec<(&'static str, &'static str)> {
        let mut files = vec![("index.html", INDEX_HTML), ("style.css", STYLE_CSS)];
        files.extend(JS_MODULES.iter().copied());
        files
    }

    #[test]
    fn page_fetches_nothing_from_elsewhere() {
        for (name, text) in all_files() {
            for needle in ["http://", "https://", "//cdn", "@import", "url("] {
                assert!(!text.contains(needle), "{name} mentions {needle}: the page must load nothing from elsewhere");
            }
        }
        assert!(INDEX_HTML.contains("/assets/js/main.js") && INDEX_HTML.contains("/assets/style.css"));
        assert!(INDEX_HTML.contains("type=\"module\""), "main.js imports its siblings, so it loads as a module");
    }

    /// Every `from './x.js'` names a module in the table, so no import 404s in the browser,
    /// and every module in the table is imported by some other (none is dead weight).
    #[test]
    fn every_import_is_served_and_every_module_imported() {
        let mut imported = vec!["main.js"];
        for (name, text) in JS_MODULES {
            for part in text.split(" from './").skip(1) {
                let target = part.split('\'').next().unwrap_or_default();
                assert!(module(target).is_some(), "{name} imports '{target}', which web.rs does not serve");
                imported.push(target);
            }
            assert!(!text.contains("import("), "{name}: dynamic imports are not checked here");
        }
        for (name, _) in JS_MODULES {
            assert!(imported.contains(name), "{name} is served but nothing imports it");
        }
    }

    #[test]
    fn unknown_module_is_not_served() {
        assert!(module("main.js").is_some());
        assert!(module("../web.rs").is_none() && module("app.js").is_none());
    }

    #[test]
    fn routes_build() {
        let _: Router<()> = routes();
    }
}
