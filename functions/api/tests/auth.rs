//! Every authentication and authorization refusal, each with its status and message, and
//! an api in OIDC mode that fetches its keys over HTTP from another api's issuer.

mod common;

use airlock_api::{ApiConfig, AuthConfig, LocalIssuer};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use common::*;
use reqwest::Method;
use serde_json::{json, Value};
use std::time::{SystemTime, UNIX_EPOCH};

const ADMIN_ROUTE: &str = "/api/v1/connections";

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

fn segment(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(value).unwrap())
}

fn decode_segment(text: &str) -> Value {
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(text).unwrap()).unwrap()
}

#[tokio::test]
async fn missing_and_malformed_tokens_are_refused() {
    let s = single().await;
    let reply = s.http.send(Method::GET, ADMIN_ROUTE, None, None).await;
    reply.refused(401, "missing bearer token: send 'Authorization: Bearer <jwt>'");
    let reply = s.http.get(ADMIN_ROUTE, "not-a-jwt").await;
    reply.refused(401, "token rejected: malformed token: not three dot-separated base64url parts");
    let reply = s.http.get(ADMIN_ROUTE, "eyJhbGciOiJFUzI1NiJ9.e30.c2ln").await;
    reply.refused(401, "token rejected: signature does not verify");
    let unsigned = format!("{}.{}.", segment(&json!({"alg": "none"})), segment(&json!({"sub": "alice"})));
    s.http.get(ADMIN_ROUTE, &unsigned).await.refused(
        401,
        "token rejected: malformed token: header or claims are not the expected JSON (unknown variant `none`",
    );
}

#[tokio::test]
async fn expired_not_yet_valid_wrong_audience_and_wrong_issuer_are_refused() {
    let s = single().await;
    let issuer = s.api.state().local_issuer().unwrap();
    let claims = |exp: u64| {
        json!({"iss": "airlock-local", "aud": ["airlock"], "sub": "alice", "exp": exp,
                                   "urn:zitadel:iam:org:project:roles": {ADMIN: {}}})
    };
    assert_eq!(s.http.get(ADMIN_ROUTE, &issuer.sign(&claims(now() + 60))).await.status, 200);

    let expired = issuer.sign(&claims(now() - 3600));
    s.http.get(ADMIN_ROUTE, &expired).await.refused(401, "token rejected: expired at ");

    let mut early = claims(now() + 7200);
    early["nbf"] = json!(now() + 3600);
    s.http.get(ADMIN_ROUTE, &issuer.sign(&early)).await.refused(401, "token rejected: not valid before ");

    let key_dir = s.dir.path().join("keys");
    let other_audience = LocalIssuer::open(&key_dir, "airlock-local", "someone-else").unwrap();
    s.http
        .get(ADMIN_ROUTE, &other_audience.mint("alice", &[ADMIN], HOUR))
        .await
        .refused(401, "token rejected: audience 'someone-else' does not include 'airlock'");

    let other_issuer = LocalIssuer::open(&key_dir, "https://evil.example", "airlock").unwrap();
    s.http
        .get(ADMIN_ROUTE, &other_issuer.mint("alice", &[ADMIN], HOUR))
        .await
        .refused(401, "token rejected: issuer 'https://evil.example' is not the expected 'airlock-local'");
}

#[tokio::test]
async fn tokens_of_another_key_and_tampered_tokens_are_refused() {
    let s = single().await;
    let stranger = LocalIssuer::open(&s.dir.path().join("stranger-keys"), "airlock-local", "airlock").unwrap();
    let foreign = stranger.mint("alice", &[ADMIN], HOUR);
    s.http
        .get(ADMIN_ROUTE, &foreign)
        .await
        .refused(401, &format!("token rejected: signing key '{}' is not one of the keys of", stranger.kid()));

    // The stranger's token relabelled with our key id: only the signature can tell.
    let ours = s.api.state().local_issuer().unwrap().kid().to_owned();
    let parts: Vec<&str> = foreign.split('.').collect();
    let mut header = decode_segment(parts[0]);
    header["kid"] = json!(ours);
    let relabelled = format!("{}.{}.{}", segment(&header), parts[1], parts[2]);
    s.http.get(ADMIN_ROUTE, &relabelled).await.refused(401, "token rejected: signature does not verify");

    // A genuine user token whose payload was edited to claim the admin role.
    let plain = s.api.mint("carol", &[], HOUR);
    let parts: Vec<&str> = plain.split('.').collect();
    let mut payload = decode_segment(parts[1]);
    payload["urn:zitadel:iam:org:project:roles"] = json!({ADMIN: {}});
    let elevated = format!("{}.{}.{}", parts[0], segment(&payload), parts[2]);
    s.http.get(ADMIN_ROUTE, &elevated).await.refused(401, "token rejected: signature does not verify");
}

#[tokio::test]
async fn roles_and_registry_membership_are_enforced() {
    let s = single().await;
    let user = s.api.mint("carol", &[], HOUR);
    s.http
        .get(ADMIN_ROUTE, &user)
        .await
        .refused(403, "admin role 'airlock_admin' required; the token of 'carol' has roles: none");
    let service = s.api.mint("scheduler", &[SERVICE], HOUR);
    s.http.get("/api/v1/platform", &service).await.refused(403, "admin role 'airlock_admin' required");
    s.http
        .post("/api/v1/connections/any-id/sync", &user, json!({}))
        .await
        .refused(403, "service role 'rss_service_user' or admin role 'airlock_admin' required");

    // A stranger with the admin role becomes a registry user on first sight, with the
    // lowest clearance and the feature flag off, so admin routes still refuse them.
    let stranger = s.api.mint("mallory", &[ADMIN], HOUR);
    assert_eq!(s.http.get("/api/v1/files", &stranger).await.ok(200), json!([]), "sees nothing yet");
    assert_eq!(s.http.get("/api/v1/sharing-targets", &stranger).await.status, 200);
    s.http.get(ADMIN_ROUTE, &stranger).await.refused(
        403,
        "secure connections is not enabled for user 'mallory': enable it in Settings > Experimental Features > \
         Secure Connections (PUT /api/v1/me/features)",
    );
    let me = s.http.get("/api/v1/me", &stranger).await.ok(200);
    assert_eq!(me["clearance"], json!({"level": {"name": "PUBLIC", "order": 0}, "tags": []}), "the lowest level");
    assert_eq!((me["is_admin"].clone(), me["secure_connections"].clone()), (json!(true), json!(false)));
    assert_eq!(s.http.get("/api/v1/files", &user).await.status, 200);
}

#[tokio::test]
async fn every_api_route_refuses_a_request_without_a_token() {
    let s = single().await;
    let mut checked = 0;
    for (method, path) in airlock_api::route_list() {
        let concrete = path.replace("{id}", "some-id");
        let method = Method::from_bytes(method.as_bytes()).unwrap();
        let body = matches!(method, Method::POST | Method::PUT | Method::PATCH).then(|| "{}".into());
        let reply = s.http.send(method.clone(), &concrete, None, body).await;
        if path.starts_with("/api/") {
            reply.refused(401, "missing bearer token");
            checked += 1;
        } else {
            assert_eq!(reply.status, 200, "{method} {path} is public: {}", reply.text);
        }
    }
    assert!(checked >= 20, "only {checked} api routes found");
}

#[tokio::test]
async fn openapi_document_covers_every_route() {
    let s = single().await;
    let reply = s.http.send(Method::GET, "/openapi.json", None, None).await;
    let doc = reply.ok(200);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let routes = airlock_api::route_list();
    for (method, path) in &routes {
        let op = &doc["paths"][path][method.to_lowercase()];
        assert!(op.is_object(), "{method} {path} is missing from openapi.json");
        assert!(op["responses"].is_object(), "{method} {path} has no responses");
    }
    for (path, ops) in doc["paths"].as_object().unwrap() {
        for method in ops.as_object().unwrap().keys() {
            if routes.iter().any(|(m, p)| p == path && m.eq_ignore_ascii_case(method)) {
                continue;
            }
            // Not in the api's table: one of the web module's pages, which must really be served.
            let concrete = path.replace("{kind}", "sending").replace("{id}", "some-id");
            let reply =
                s.http.send(Method::from_bytes(method.to_uppercase().as_bytes()).unwrap(), &concrete, None, None).await;
            assert_eq!(reply.status, 200, "openapi.json documents {method} {path}, which is not served");
        }
    }
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    let text = doc.to_string();
    for reference in text.split("#/components/schemas/").skip(1) {
        let name: String = reference.chars().take_while(|c| c.is_alphanumeric()).collect();
        assert!(schemas.contains_key(&name), "schema {name} is referenced but not defined");
    }
}

#[tokio::test]
async fn local_issuer_serves_its_discovery_documents() {
    let s = single().await;
    let keys = s.http.send(Method::GET, "/oauth/v2/keys", None, None).await.ok(200);
    assert_eq!(keys["keys"][0]["kid"], json!(s.api.state().local_issuer().unwrap().kid()));
    assert!(keys["keys"][0].get("d").is_none(), "the JWKS must not carry the private key");
    let discovery = s.http.send(Method::GET, "/.well-known/openid-configuration", None, None).await.ok(200);
    assert_eq!(discovery["issuer"], json!("airlock-local"));
    assert!(discovery["jwks_uri"].as_str().unwrap().ends_with("/oauth/v2/keys"));
}

#[tokio::test]
async fn oidc_mode_fetches_the_issuers_keys_over_http() {
    let s = single().await;
    let config = ApiConfig {
        auth: AuthConfig::oidc("airlock-local", &format!("{}/oauth/v2/keys", s.api.url), "airlock"),
        ..ApiConfig::local(any_port(), s.dir.path().join("unused"))
    };
    let oidc = airlock_api::start(s.ctx.clone(), config).await.unwrap();
    let http = Http::new(&oidc.url);
    let good = s.api.mint("alice", &[ADMIN], HOUR);
    assert_eq!(http.get(ADMIN_ROUTE, &good).await.ok(200), json!([]));

    let stranger = LocalIssuer::open(&s.dir.path().join("stranger"), "airlock-local", "airlock").unwrap();
    let refusal = http.get(ADMIN_ROUTE, &stranger.mint("alice", &[ADMIN], HOUR)).await;
    refusal.refused(
        401,
        &format!("token rejected: signing key '{}' is not one of the keys of issuer 'airlock-local'", stranger.kid()),
    );
    assert!(!refusal.text.contains(&s.api.url), "a 401 must not reveal the JWKS URL: {}", refusal.text);
    http.get(ADMIN_ROUTE, &s.api.mint("carol", &[], HOUR)).await.refused(403, "admin role 'airlock_admin' required");
    // An api that trusts an external issuer runs no issuer of its own.
    assert_eq!(http.send(Method::GET, "/oauth/v2/keys", None, None).await.status, 404);
    assert!(!std::fs::exists(s.dir.path().join("unused")).unwrap());
}

#[tokio::test]
async fn oidc_mode_with_an_unreachable_issuer_answers_503_not_401() {
    let s = single().await;
    let config = ApiConfig {
        auth: AuthConfig::oidc("airlock-local", "http://127.0.0.1:9/oauth/v2/keys", "airlock"),
        ..ApiConfig::local(any_port(), s.dir.path().join("unused"))
    };
    let oidc = airlock_api::start(s.ctx.clone(), config).await.unwrap();
    let reply = Http::new(&oidc.url).get(ADMIN_ROUTE, &s.api.mint("alice", &[ADMIN], HOUR)).await;
    reply.refused(503, "token signing keys unavailable: the issuer's key set could not be fetched");
    assert!(!reply.text.contains("127.0.0.1:9"), "the 503 must not name the key set's address: {}", reply.text);
}

#[tokio::test]
async fn an_api_refuses_to_start_with_keys_over_plain_http_from_another_machine() {
    let s = single().await;
    let config = ApiConfig {
        auth: AuthConfig::oidc("https://idp.example", "http://idp.example/oauth/v2/keys", "airlock"),
        ..ApiConfig::local(any_port(), s.dir.path().join("unused"))
    };
    let err = airlock_api::start(s.ctx.clone(), config).await.err().expect("plain http keys were accepted").to_string();
    assert!(
        err.contains("AIRLOCK_OIDC_JWKS_URL='http://idp.example/oauth/v2/keys' is plain http to another machine"),
        "{err}"
    );
}

#[tokio::test]
async fn router_serves_in_process_without_a_socket() {
    use tower::ServiceExt;
    let s = single().await;
    let state =
        airlock_api::AppState::new(s.ctx.clone(), &ApiConfig::local(any_port(), s.dir.path().join("keys"))).unwrap();
    let app = airlock_api::router(state);
    let request = axum::http::Request::get(ADMIN_ROUTE)
        .header("authorization", format!("Bearer {}", s.admin))
        .body(axum::body::Body::empty())
        .unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    assert_eq!(response.status(), 200, "a token of the same key directory is trusted");
    let request = axum::http::Request::get("/nowhere").body(axum::body::Body::empty()).unwrap();
    let response = app.oneshot(request).await.unwrap();
    assert_eq!(response.status(), 404);
    let body = axum::body::to_bytes(response.into_body(), 1024).await.unwrap();
    let body: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(body["error"], json!("no route for GET /nowhere"));
}
