use super::*;
use crate::issuer::LocalIssuer;
use axum::routing::get;
use axum::{Json, Router};
use base64::Engine;
use serde_json::json;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

fn claims(value: Value) -> Map<String, Value> {
    value.as_object().cloned().unwrap()
}

#[test]
fn roles_come_from_zitadel_claims_and_plain_arrays() {
    let roles = roles_from_claims(&claims(json!({
        "urn:zitadel:iam:org:project:roles": {"airlock_admin": {"1": "org"}},
        "urn:zitadel:iam:org:project:2891:roles": {"rss_service_user": {}},
        "roles": ["viewer", 7],
        "urn:zitadel:iam:org:project:a:b:roles": {"not_a_role": {}},
        "other": {"ignored": {}},
    })));
    let expected: BTreeSet<String> =
        ["airlock_admin", "rss_service_user", "viewer"].into_iter().map(String::from).collect();
    assert_eq!(roles, expected);
}

#[test]
fn project_role_claim_names_are_recognised_exactly() {
    assert!(is_zitadel_roles_claim("urn:zitadel:iam:org:project:roles"));
    assert!(is_zitadel_roles_claim("urn:zitadel:iam:org:project:12345:roles"));
    assert!(!is_zitadel_roles_claim("urn:zitadel:iam:org:project::roles"));
    assert!(!is_zitadel_roles_claim("urn:zitadel:iam:org:project:1:roles:x"));
    assert!(!is_zitadel_roles_claim("urn:zitadel:iam:org:projects:roles"));
}

fn rsa_fixture() -> (jsonwebtoken::EncodingKey, Value) {
    let doc: Value = serde_json::from_str(include_str!("../tests/fixtures/rsa-test-key.json")).unwrap();
    let der = base64::engine::general_purpose::STANDARD
        .decode(doc["private_key_pkcs1_der_base64"].as_str().unwrap())
        .unwrap();
    (jsonwebtoken::EncodingKey::from_rsa_der(&der), doc["jwk"].clone())
}

fn rs256_token(key: &jsonwebtoken::EncodingKey, kid: &str, claims: &Value) -> String {
    let mut header = jsonwebtoken::Header::new(Algorithm::RS256);
    header.kid = Some(kid.into());
    jsonwebtoken::encode(&header, claims, key).unwrap()
}

fn good_claims(sub: &str) -> Value {
    let now = unix_now();
    json!({"iss": "https://idp.example", "aud": ["airlock", "client-1"], "sub": sub, "exp": now + 300,
           "urn:zitadel:iam:org:project:roles": {"airlock_admin": {}}})
}

#[tokio::test]
async fn rs256_tokens_verify_against_an_rsa_jwk() {
    let (key, jwk) = rsa_fixture();
    let verifier = Verifier::fixed("https://idp.example", "airlock", &json!({"keys": [jwk]}));
    let caller = verifier.verify(&rs256_token(&key, "test-rsa-1", &good_claims("svc"))).await.unwrap();
    assert_eq!(caller.sub, "svc");
    assert!(caller.has_role("airlock_admin"));

    let mut tampered = good_claims("svc");
    tampered["sub"] = json!("someone-else");
    let forged_payload =
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(serde_json::to_vec(&tampered).unwrap());
    let token = rs256_token(&key, "test-rsa-1", &good_claims("svc"));
    let parts: Vec<&str> = token.split('.').collect();
    let forged = format!("{}.{}.{}", parts[0], forged_payload, parts[2]);
    let err = verifier.verify(&forged).await.unwrap_err().to_string();
    assert_eq!(err, "token rejected: signature does not verify");
}

#[tokio::test]
async fn symmetric_algorithms_and_keys_are_refused() {
    let hs = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(Algorithm::HS256),
        &good_claims("x"),
        &jsonwebtoken::EncodingKey::from_secret(b"public"),
    )
    .unwrap();
    let verifier = Verifier::fixed(
        "https://idp.example",
        "airlock",
        &json!({"keys": [{"kty": "oct", "k": "cHVibGlj", "kid": "sym"}]}),
    );
    let err = verifier.verify(&hs).await.unwrap_err().to_string();
    assert!(err.starts_with("token rejected: algorithm HS256 is not accepted"), "{err}");
    assert!(parse_jwks(&json!({"keys": [{"kty": "oct", "k": "cHVibGlj"}]})).is_empty());
}

#[tokio::test]
async fn claims_are_checked_with_leeway_and_named_in_refusals() {
    let dir = tempfile::tempdir().unwrap();
    let issuer = LocalIssuer::open(dir.path(), "iss-a", "airlock").unwrap();
    let verifier = Verifier::fixed("iss-a", "airlock", &issuer.jwks());
    let now = unix_now();
    let base = json!({"iss": "iss-a", "aud": "airlock", "sub": "alice"});
    let with = |extra: Value| {
        let mut c = base.clone();
        for (k, v) in extra.as_object().unwrap() {
            c[k] = v.clone();
        }
        issuer.sign(&c)
    };
    // Inside the leeway: still accepted.
    assert!(verifier.verify(&with(json!({"exp": now - 10}))).await.is_ok());
    let err = verifier.verify(&with(json!({"exp": now - 120}))).await.unwrap_err().to_string();
    assert!(err.starts_with("token rejected: expired at "), "{err}");
    let err = verifier.verify(&with(json!({"exp": now + 600, "nbf": now + 300}))).await.unwrap_err().to_string();
    assert!(err.starts_with("token rejected: not valid before "), "{err}");
    let err = verifier.verify(&issuer.sign(&json!({"iss": "iss-a", "aud": "airlock", "sub": "a"}))).await;
    assert_eq!(err.unwrap_err().to_string(), "token rejected: no expiry ('exp' claim)");
    let err = verifier.verify(&with(json!({"exp": now + 60, "sub": ""}))).await.unwrap_err().to_string();
    assert_eq!(err, "token rejected: no subject ('sub' claim)");
    let err = verifier.verify(&with(json!({"exp": now + 60, "aud": null}))).await.unwrap_err().to_string();
    assert_eq!(err, "token rejected: audience '(none)' does not include 'airlock'");
}

#[tokio::test]
async fn bearer_header_must_be_present_and_bearer() {
    let verifier = Verifier::fixed("i", "a", &json!({"keys": []}));
    let err = verifier.verify_header(None).await.unwrap_err().to_string();
    assert!(err.starts_with("missing bearer token"), "{err}");
    let err = verifier.verify_header(Some("Basic YWxpY2U6cHc=")).await.unwrap_err().to_string();
    assert!(err.contains("uses scheme 'Basic'"), "{err}");
}

struct JwksServer {
    url: String,
    keys: Arc<Mutex<Value>>,
    fetches: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

async fn jwks_server(initial: Value) -> JwksServer {
    let keys = Arc::new(Mutex::new(initial));
    let fetches = Arc::new(AtomicUsize::new(0));
    let (k, f) = (keys.clone(), fetches.clone());
    let app = Router::new().route(
        "/keys",
        get(move || {
            let (k, f) = (k.clone(), f.clone());
            async move {
                f.fetch_add(1, Ordering::SeqCst);
                Json(k.lock().unwrap().clone())
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/keys", listener.local_addr().unwrap());
    let task = tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    JwksServer { url, keys, fetches, task }
}

#[tokio::test]
async fn unknown_key_ids_refetch_the_jwks_at_most_once_per_interval() {
    let dir = tempfile::tempdir().unwrap();
    let one = LocalIssuer::open(&dir.path().join("1"), "iss", "airlock").unwrap();
    let two = LocalIssuer::open(&dir.path().join("2"), "iss", "airlock").unwrap();
    let server = jwks_server(one.jwks()).await;
    let both = json!({"keys": [one.jwks()["keys"][0].clone(), two.jwks()["keys"][0].clone()]});
    let ttl = Duration::from_secs(60);

    let slow = Verifier::remote_with_interval("iss", "airlock", &server.url, Duration::from_secs(30));
    slow.verify(&one.mint("a", &[], ttl)).await.unwrap();
    slow.verify(&one.mint("a", &[], ttl)).await.unwrap();
    assert_eq!(server.fetches.load(Ordering::SeqCst), 1, "known keys are cached");
    *server.keys.lock().unwrap() = both.clone();
    let err = slow.verify(&two.mint("a", &[], ttl)).await.unwrap_err().to_string();
    assert!(err.starts_with(&format!("token rejected: signing key '{}' is not one of the keys of", two.kid())));
    assert_eq!(server.fetches.load(Ordering::SeqCst), 1, "a refetch within the interval is skipped");

    *server.keys.lock().unwrap() = one.jwks();
    let fast = Verifier::remote_with_interval("iss", "airlock", &server.url, Duration::ZERO);
    fast.verify(&one.mint("a", &[], ttl)).await.unwrap();
    *server.keys.lock().unwrap() = both;
    fast.verify(&two.mint("a", &[], ttl)).await.unwrap();
    assert_eq!(server.fetches.load(Ordering::SeqCst), 3, "a rotated key is picked up by one refetch");

    server.task.abort();
    let _ = server.task.await;
    let down = Verifier::remote_with_interval("iss", "airlock", &server.url, Duration::ZERO);
    let err = down.verify(&one.mint("a", &[], ttl)).await.unwrap_err();
    assert_eq!(err.status(), axum::http::StatusCode::SERVICE_UNAVAILABLE);
    assert!(err.to_string().starts_with("token signing keys unavailable: fetching http://"), "{err}");
}
