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
fn roles_come_only_from_the_configured_projects_claim() {
    let token = claims(json!({
        "urn:zitadel:iam:org:project:roles": {"airlock_admin": {"1": "org"}},
        "urn:zitadel:iam:org:project:2891:roles": {"rss_service_user": {"1": "org"}},
        "urn:zitadel:iam:org:project:7777:roles": {"airlock_admin": {"1": "org"}},
        "roles": ["viewer", 7],
        "other": {"ignored": {}},
    }));
    let only = |names: &[&str]| -> BTreeSet<String> { names.iter().map(|n| n.to_string()).collect() };
    assert_eq!(RoleClaims::zitadel_project("2891").read(&token), only(&["rss_service_user"]));
    assert_eq!(RoleClaims::zitadel_project("7777").read(&token), only(&["airlock_admin"]));
    assert_eq!(RoleClaims::zitadel_project("1234").read(&token), only(&[]), "no claim of this project: no roles");
    assert_eq!(RoleClaims::named(["roles"]).read(&token), only(&["viewer"]));
    assert_eq!(
        RoleClaims::zitadel_project("2891").and(RoleClaims::named(["roles"])).read(&token),
        only(&["rss_service_user", "viewer"])
    );
    assert_eq!(RoleClaims::local().read(&token), only(&["airlock_admin"]));
}

#[tokio::test]
async fn a_role_under_another_projects_claim_is_not_a_role_here() {
    let (key, jwk) = rsa_fixture();
    let verifier = Verifier::fixed("https://idp.example", "2891", &json!({"keys": [jwk]}))
        .with_roles(RoleClaims::zitadel_project("2891"));
    let now = unix_now();
    let token = |extra: Value| {
        let mut c = json!({"iss": "https://idp.example", "aud": ["2891", "client-1"], "sub": "svc", "exp": now + 300});
        for (k, v) in extra.as_object().unwrap() {
            c[k] = v.clone();
        }
        rs256_token(&key, "test-rsa-1", &c)
    };
    let ours = verifier
        .verify(&token(json!({"urn:zitadel:iam:org:project:2891:roles": {"airlock_admin": {"1": "org"}}})))
        .await
        .unwrap();
    assert!(ours.has_role("airlock_admin"));
    // Admin of another project, in a token for our audience: Zitadel's shape when a client of
    // project 7777 asks for project 2891's audience. Neither its project claim nor the plain
    // claim (the requesting client's project) makes it an admin here.
    let theirs = verifier
        .verify(&token(json!({
            "urn:zitadel:iam:org:project:7777:roles": {"airlock_admin": {"1": "org"}},
            "urn:zitadel:iam:org:project:roles": {"airlock_admin": {"1": "org"}},
            "roles": ["airlock_admin"],
        })))
        .await
        .unwrap();
    assert_eq!(theirs.sub, "svc");
    assert!(theirs.roles.is_empty(), "roles of another project were accepted: {:?}", theirs.roles);
}

#[test]
fn project_role_claim_names_are_recognised_exactly() {
    assert!(is_zitadel_roles_claim("urn:zitadel:iam:org:project:roles"));
    assert!(is_zitadel_roles_claim("urn:zitadel:iam:org:project:12345:roles"));
    assert!(!is_zitadel_roles_claim("urn:zitadel:iam:org:project::roles"));
    assert!(!is_zitadel_roles_claim("urn:zitadel:iam:org:project:1:roles:x"));
    assert!(!is_zitadel_roles_claim("urn:zitadel:iam:org:projects:roles"));
    assert_eq!(zitadel_project_claim("12345"), "urn:zitadel:iam:org:project:12345:roles");
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
    cache_control: Arc<Mutex<Option<&'static str>>>,
    delay: Arc<Mutex<Duration>>,
    fetches: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

async fn jwks_server(initial: Value) -> JwksServer {
    let keys = Arc::new(Mutex::new(initial));
    let cache_control: Arc<Mutex<Option<&'static str>>> = Default::default();
    let delay: Arc<Mutex<Duration>> = Default::default();
    let fetches = Arc::new(AtomicUsize::new(0));
    let (k, c, d, f) = (keys.clone(), cache_control.clone(), delay.clone(), fetches.clone());
    let app = Router::new().route(
        "/keys",
        get(move || {
            let (k, c, d, f) = (k.clone(), c.clone(), d.clone(), f.clone());
            async move {
                f.fetch_add(1, Ordering::SeqCst);
                let delay = *d.lock().unwrap();
                tokio::time::sleep(delay).await;
                let mut headers = axum::http::HeaderMap::new();
                if let Some(value) = *c.lock().unwrap() {
                    headers.insert(axum::http::header::CACHE_CONTROL, value.parse().unwrap());
                }
                (headers, Json(k.lock().unwrap().clone()))
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/keys", listener.local_addr().unwrap());
    let task = tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    JwksServer { url, keys, cache_control, delay, fetches, task }
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
    assert_eq!(err, format!("token rejected: signing key '{}' is not one of the keys of issuer 'iss'", two.kid()));
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
    assert!(err.to_string().starts_with("token signing keys unavailable: the issuer's key set"), "{err}");
    assert!(!err.to_string().contains("http://"), "the refusal must not name the key set's address: {err}");
}

#[test]
fn jwks_freshness_follows_cache_control_within_bounds() {
    let timing = JwksTiming::default();
    assert_eq!(timing.freshness(Some("public, max-age=900")), Duration::from_secs(900));
    assert_eq!(timing.freshness(Some("max-age=86400, must-revalidate")), MAX_JWKS_AGE, "capped at an hour");
    assert_eq!(timing.freshness(Some("max-age=5")), MIN_JWKS_AGE, "no refetch storm on a tiny max-age");
    assert_eq!(timing.freshness(Some("no-store")), MIN_JWKS_AGE);
    assert_eq!(timing.freshness(Some("max-age=soon")), DEFAULT_JWKS_AGE);
    assert_eq!(timing.freshness(None), DEFAULT_JWKS_AGE);
    let short = JwksTiming::with_max_age(Duration::from_secs(2));
    assert_eq!(short.freshness(Some("max-age=300")), Duration::from_secs(2));
    assert_eq!(short.freshness(None), Duration::from_secs(2));
}

fn quick(max_age: Duration) -> JwksTiming {
    JwksTiming { min_refetch: Duration::from_secs(30), max_age, min_age: Duration::ZERO }
}

#[tokio::test]
async fn a_known_key_the_issuer_removed_stops_working_when_the_keys_expire() {
    let dir = tempfile::tempdir().unwrap();
    let one = LocalIssuer::open(&dir.path().join("1"), "iss", "airlock").unwrap();
    let two = LocalIssuer::open(&dir.path().join("2"), "iss", "airlock").unwrap();
    let both = json!({"keys": [one.jwks()["keys"][0].clone(), two.jwks()["keys"][0].clone()]});
    let server = jwks_server(both).await;
    *server.cache_control.lock().unwrap() = Some("public, max-age=1");
    let ttl = Duration::from_secs(60);
    let (old, new) = (one.mint("a", &[], ttl), two.mint("a", &[], ttl));

    // The response's max-age (1 s) is honoured below the configured hour.
    let verifier = Verifier::remote_with("iss", "airlock", &server.url, quick(MAX_JWKS_AGE));
    verifier.verify(&old).await.unwrap();
    *server.keys.lock().unwrap() = two.jwks();
    verifier.verify(&old).await.expect("a fresh key set is trusted until it expires");
    assert_eq!(server.fetches.load(Ordering::SeqCst), 1);
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let err = verifier.verify(&old).await.unwrap_err();
    assert_eq!(err.status(), axum::http::StatusCode::UNAUTHORIZED);
    assert_eq!(
        err.to_string(),
        format!("token rejected: signing key '{}' is not one of the keys of issuer 'iss'", one.kid())
    );
    assert!(!err.to_string().contains(&server.url), "a 401 must not reveal the JWKS URL: {err}");
    verifier.verify(&new).await.unwrap();
    assert_eq!(server.fetches.load(Ordering::SeqCst), 2, "one scheduled refetch, no refetch storm");

    // A long max-age is capped by the configured maximum.
    *server.keys.lock().unwrap() = one.jwks();
    *server.cache_control.lock().unwrap() = Some("max-age=86400");
    let capped = Verifier::remote_with("iss", "airlock", &server.url, quick(Duration::from_secs(1)));
    capped.verify(&old).await.unwrap();
    *server.keys.lock().unwrap() = two.jwks();
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert!(capped.verify(&old).await.is_err(), "the key outlived the configured maximum age");
    assert_eq!(server.fetches.load(Ordering::SeqCst), 4);

    // An issuer that can't be reached leaves the stale keys in use, rather than locking everyone out.
    server.task.abort();
    let _ = server.task.await;
    tokio::time::sleep(Duration::from_millis(1200)).await;
    capped.verify(&new).await.expect("stale keys stay in use while the issuer is unreachable");
}

#[tokio::test]
async fn fetching_keys_never_holds_up_a_request_whose_key_is_cached() {
    let dir = tempfile::tempdir().unwrap();
    let one = LocalIssuer::open(&dir.path().join("1"), "iss", "airlock").unwrap();
    let two = LocalIssuer::open(&dir.path().join("2"), "iss", "airlock").unwrap();
    let server = jwks_server(one.jwks()).await;
    let ttl = Duration::from_secs(60);
    // No rate limit on unknown key ids: whatever single-flights the waiters is the cache's doing.
    let verifier = Arc::new(Verifier::remote_with_interval("iss", "airlock", &server.url, Duration::ZERO));
    verifier.verify(&one.mint("a", &[], ttl)).await.unwrap();

    // The issuer turns slow and rotates in a second key; tokens of that key wait for the fetch,
    // and all of them for the same one.
    *server.delay.lock().unwrap() = Duration::from_secs(2);
    *server.keys.lock().unwrap() = json!({"keys": [one.jwks()["keys"][0].clone(), two.jwks()["keys"][0].clone()]});
    let started = std::time::Instant::now();
    let waiting: Vec<_> = (0..4)
        .map(|_| {
            let (verifier, token) = (verifier.clone(), two.mint("a", &[], ttl));
            tokio::spawn(async move { verifier.verify(&token).await })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(server.fetches.load(Ordering::SeqCst), 2, "the refetch is in flight");

    let cached = tokio::time::timeout(Duration::from_millis(500), verifier.verify(&one.mint("b", &[], ttl))).await;
    assert_eq!(cached.expect("a request with a cached key waited for the fetch").unwrap().sub, "b");

    for task in waiting {
        task.await.unwrap().expect("the rotated-in key verifies once fetched");
    }
    assert!(started.elapsed() >= Duration::from_secs(2));
    assert_eq!(server.fetches.load(Ordering::SeqCst), 2, "the waiters shared one fetch");
}
