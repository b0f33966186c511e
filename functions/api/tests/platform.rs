//! Platform administration through the api: the feature flag, sign-in accounts, levels,
//! the max level, tags, users, clearance claims and the audit log; each refusal shown
//! refusing and changing nothing.

mod common;

use airlock_api::{ApiConfig, ClearanceClaims};
use common::*;
use serde_json::{json, Value};

async fn audit_total(s: &Single) -> u64 {
    s.http.get("/api/v1/platform/audit?limit=1", &s.admin).await.ok(200)["total"].as_u64().unwrap()
}

fn level_names(platform: &Value) -> Vec<String> {
    platform["levels"].as_array().unwrap().iter().map(|l| l["name"].as_str().unwrap().to_owned()).collect()
}

#[tokio::test]
async fn the_feature_flag_gates_admin_routes_and_is_self_service() {
    let s = single().await;
    let dave = s.api.mint("dave", &[ADMIN], HOUR);
    let refusal = "secure connections is not enabled for user 'dave': enable it in Settings > Experimental Features > \
                   Secure Connections (PUT /api/v1/me/features)";
    for path in ["/api/v1/platform", "/api/v1/connections", "/api/v1/users", "/api/v1/platform/audit"] {
        s.http.get(path, &dave).await.refused(403, refusal);
    }
    s.http.post("/api/v1/connections/any/sync", &dave, json!({})).await.refused(403, refusal);
    let me = s.http.put("/api/v1/me/features", &dave, json!({"secure_connections": true})).await.ok(200);
    assert_eq!(me["secure_connections"], json!(true));
    s.http.get("/api/v1/platform", &dave).await.ok(200);

    s.http
        .put("/api/v1/me/features", &dave, json!({"secure_connections": "yes"}))
        .await
        .refused(400, "request body refused");
    s.http.put("/api/v1/me/features", &dave, json!({})).await.refused(400, "request body refused");

    let off = s.http.patch("/api/v1/platform/users/dave", &s.admin, json!({"secure_connections": false})).await.ok(200);
    assert_eq!(off["secure_connections"], json!(false));
    s.http.get("/api/v1/platform", &dave).await.refused(403, refusal);
    let audit = s.http.get("/api/v1/platform/audit?limit=2", &s.admin).await.ok(200);
    let entries = audit["entries"].as_array().unwrap();
    assert_eq!(
        (entries[0]["actor"].as_str(), entries[0]["action"].as_str()),
        (Some("alice"), Some("user.secure_connections"))
    );
    assert_eq!((entries[0]["before"].clone(), entries[0]["after"].clone()), (json!(true), json!(false)));
    assert_eq!((entries[1]["actor"].as_str(), entries[1]["target"].as_str()), (Some("dave"), Some("dave")));

    // The flag is no role: a user without the admin role is still refused.
    let carol = s.api.mint("carol", &[], HOUR);
    s.http.put("/api/v1/me/features", &carol, json!({"secure_connections": true})).await.ok(200);
    s.http.get("/api/v1/platform", &carol).await.refused(403, "admin role 'airlock_admin' required");
}

#[tokio::test]
async fn first_sign_in_makes_an_account_from_the_token() {
    let s = single().await;
    let issuer = s.api.state().local_issuer().unwrap();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let token = |name: &str| {
        issuer.sign(&json!({"iss": "airlock-local", "aud": ["airlock"], "sub": "zoe", "exp": now + 600,
            "name": name, "email": "zoe@example.org"}))
    };
    let me = s.http.get("/api/v1/me", &token("Zoe Z")).await.ok(200);
    assert_eq!(
        me,
        json!({"id": "zoe", "name": "Zoe Z", "email": "zoe@example.org", "roles": [], "is_admin": false,
               "clearance": {"level": {"name": "PUBLIC", "order": 0}, "tags": []}, "secure_connections": false})
    );
    let renamed = s.http.get("/api/v1/me", &token("Zoe Zed")).await.ok(200);
    assert_eq!(renamed["name"], json!("Zoe Zed"), "a later sign-in refreshes the name");
    let found = s.http.get("/api/v1/platform/users?search=zoe", &s.admin).await.ok(200);
    assert_eq!(found["total"], json!(1));
    assert_eq!(found["users"][0]["email"], json!("zoe@example.org"));
    assert!(found["users"][0]["created_at"].as_i64().unwrap() > 0);

    let alice = s.http.get("/api/v1/me", &s.admin).await.ok(200);
    assert_eq!(alice["name"], json!("Alice Admin"), "a token without a name keeps the stored one");
    assert_eq!((alice["is_admin"].clone(), alice["secure_connections"].clone()), (json!(true), json!(true)));
    assert_eq!(alice["clearance"]["level"]["name"], json!("SECRET"));
}

#[tokio::test]
async fn levels_are_added_renamed_and_reordered_only_while_unused() {
    let s = single().await;
    let before = audit_total(&s).await;
    let added =
        s.http.post("/api/v1/platform/levels", &s.admin, json!({"name": "RESTRICTED", "order": 5})).await.ok(201);
    assert_eq!(level_names(&added), ["PUBLIC", "INTERNAL", "SECRET", "RESTRICTED"], "ascending order");
    let refusals = [
        (json!({"name": "SECRET", "order": 9}), 409, "infosec level 'SECRET' already exists (order 2)"),
        (json!({"name": "OTHER", "order": 1}), 409, "order 1 is already taken by infosec level 'INTERNAL'"),
        (json!({"name": "A,B", "order": 9}), 400, "infosec level name 'A,B' is empty, longer than 100 characters"),
        (json!({"name": "  ", "order": 9}), 400, "infosec level name '' is empty"),
        (json!({"name": "X"}), 400, "request body refused"),
    ];
    for (body, status, message) in refusals {
        s.http.post("/api/v1/platform/levels", &s.admin, body).await.refused(status, message);
    }
    assert_eq!(audit_total(&s).await, before + 1, "only the accepted level was recorded");

    let file = s
        .http
        .send(reqwest::Method::POST, "/api/v1/files?name=plan.txt&level=INTERNAL", Some(&s.admin), Some("x".into()))
        .await
        .ok(201);
    let renamed = s.http.patch("/api/v1/platform/levels/INTERNAL", &s.admin, json!({"name": "OFFICIAL"})).await.ok(200);
    assert_eq!(level_names(&renamed), ["PUBLIC", "OFFICIAL", "SECRET", "RESTRICTED"]);
    let files = s.http.get("/api/v1/files", &s.admin).await.ok(200);
    let stored = files.as_array().unwrap().iter().find(|f| f["id"] == file["id"]).unwrap().clone();
    assert_eq!(stored["level"], json!({"name": "OFFICIAL", "order": 1}), "a rename reaches the files");

    s.http.patch("/api/v1/platform/levels/OFFICIAL", &s.admin, json!({"order": 7})).await.refused(
        409,
        "changing the order of infosec level 'OFFICIAL' from 1 to 7 is refused: 1 file(s) (plan.txt) hold it",
    );
    s.http.patch("/api/v1/platform/levels/SECRET", &s.admin, json!({"order": 9})).await.refused(
        409,
        "changing the order of infosec level 'SECRET' from 2 to 9 is refused: 2 user(s) (Alice Admin, Bob Builder)",
    );
    s.http
        .patch("/api/v1/platform/levels/RESTRICTED", &s.admin, json!({"order": 2}))
        .await
        .refused(409, "order 2 is already taken by infosec level 'SECRET'");
    s.http
        .patch("/api/v1/platform/levels/OFFICIAL", &s.admin, json!({"name": "SECRET"}))
        .await
        .refused(409, "cannot rename 'OFFICIAL' to 'SECRET': infosec level 'SECRET' already exists");
    s.http
        .patch("/api/v1/platform/levels/NOPE", &s.admin, json!({"order": 3}))
        .await
        .refused(404, "infosec level 'NOPE' is not one of this platform's levels");
    s.http
        .patch("/api/v1/platform/levels/OFFICIAL", &s.admin, json!({}))
        .await
        .refused(400, "nothing to change for infosec level 'OFFICIAL'");
    let moved = s.http.patch("/api/v1/platform/levels/RESTRICTED", &s.admin, json!({"order": 8})).await.ok(200);
    assert_eq!(moved["levels"][3], json!({"name": "RESTRICTED", "order": 8}), "an unused level moves");
    let audit = s.http.get("/api/v1/platform/audit?limit=1", &s.admin).await.ok(200);
    assert_eq!(audit["entries"][0]["before"], json!({"name": "RESTRICTED", "order": 5}));
    assert_eq!(audit["entries"][0]["after"], json!({"name": "RESTRICTED", "order": 8}));
}

#[tokio::test]
async fn the_max_level_and_the_infosec_switch() {
    let s = single().await;
    s.http.put("/api/v1/platform/max-level", &s.admin, json!({"name": "INTERNAL"})).await.refused(
        409,
        "the max level cannot be lowered to 'INTERNAL' (order 1): 2 user(s) (Alice Admin, Bob Builder) lie above it",
    );
    s.http
        .put("/api/v1/platform/max-level", &s.admin, json!({"name": "TOP"}))
        .await
        .refused(400, "infosec level 'TOP' is not one of this platform's levels: PUBLIC, INTERNAL, SECRET");
    s.http.post("/api/v1/platform/levels", &s.admin, json!({"name": "TOP", "order": 3})).await.ok(201);
    let raised = s.http.put("/api/v1/platform/max-level", &s.admin, json!({"name": "TOP"})).await.ok(200);
    assert_eq!(raised["max_level"], json!({"name": "TOP", "order": 3}));

    let off = s.http.put("/api/v1/platform/infosec", &s.admin, json!({"enabled": false})).await.ok(200);
    assert_eq!(off["infosec_enabled"], json!(false));
    s.http.put("/api/v1/platform/infosec", &s.admin, json!({"enabled": 1})).await.refused(400, "request body refused");
    let before = audit_total(&s).await;
    s.http.put("/api/v1/platform/infosec", &s.admin, json!({"enabled": false})).await.ok(200);
    assert_eq!(audit_total(&s).await, before, "setting what is already set records nothing");
}

#[tokio::test]
async fn users_are_searched_paged_and_cleared() {
    let s = single().await;
    let page = s.http.get("/api/v1/platform/users?limit=2", &s.admin).await.ok(200);
    assert_eq!(page["total"], json!(3));
    let names: Vec<&str> = page["users"].as_array().unwrap().iter().map(|u| u["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["Alice Admin", "Bob Builder"]);
    let rest = s.http.get("/api/v1/platform/users?limit=2&offset=2", &s.admin).await.ok(200);
    assert_eq!(rest["users"][0]["id"], json!("carol"));
    s.http.get("/api/v1/platform/users?limit=0", &s.admin).await.refused(400, "limit 0 is outside 1..=500");
    s.http.get("/api/v1/platform/users?offset=-1", &s.admin).await.refused(400, "query string refused");

    let cleared = s
        .http
        .patch("/api/v1/platform/users/carol", &s.admin, json!({"clearance": {"level": "INTERNAL", "tags": ["ITAR"]}}))
        .await
        .ok(200);
    assert_eq!(cleared["clearance"], json!({"level": {"name": "INTERNAL", "order": 1}, "tags": ["ITAR"]}));
    let before = audit_total(&s).await;
    let refusals = [
        (
            "carol",
            json!({"clearance": {"level": "TOP", "tags": []}}),
            400,
            "infosec level 'TOP' is not one of this platform's levels",
        ),
        (
            "carol",
            json!({"clearance": {"level": "PUBLIC", "tags": ["NOPE"]}}),
            400,
            "control tag(s) not active on this platform: NOPE",
        ),
        (
            "carol",
            json!({"clearance": {"level": "PUBLIC", "tags": ["A,B"]}}),
            400,
            "control tag 'A,B' contains a comma",
        ),
        ("carol", json!({}), 400, "nothing to change for user 'carol'"),
        ("carol", json!({"clearance": {"tags": []}}), 400, "request body refused"),
        ("nobody", json!({"secure_connections": true}), 404, "user 'nobody' not found"),
    ];
    for (id, body, status, message) in refusals {
        s.http.patch(&format!("/api/v1/platform/users/{id}"), &s.admin, body).await.refused(status, message);
    }
    assert_eq!(audit_total(&s).await, before, "refusals record nothing");
    s.http.put("/api/v1/platform/max-level", &s.admin, json!({"name": "SECRET"})).await.ok(200);
    s.http.post("/api/v1/platform/levels", &s.admin, json!({"name": "TOP", "order": 3})).await.ok(201);
    s.http
        .patch("/api/v1/platform/users/carol", &s.admin, json!({"clearance": {"level": "TOP"}}))
        .await
        .refused(400, "infosec level 'TOP' lies above the platform's max level 'SECRET'");
    let carol = s.http.get("/api/v1/me", &s.api.mint("carol", &[], HOUR)).await.ok(200);
    assert_eq!(carol["clearance"]["tags"], json!(["ITAR"]), "the accepted clearance stands");
}

#[tokio::test]
async fn clearance_claims_set_the_clearance_at_sign_in_when_configured() {
    let s = single().await;
    let claims = ClearanceClaims { level: Some("clearance".into()), tags: Some("caveats".into()) };
    let config = ApiConfig { clearance_claims: claims, ..ApiConfig::local(any_port(), s.dir.path().join("keys")) };
    let api = airlock_api::start(s.ctx.clone(), config).await.unwrap();
    let http = Http::new(&api.url);
    let issuer = api.state().local_issuer().unwrap();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let token = |extra: Value| {
        let mut claims = json!({"iss": "airlock-local", "aud": ["airlock"], "sub": "carol", "exp": now + 600});
        claims.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        issuer.sign(&claims)
    };
    let me = http.get("/api/v1/me", &token(json!({"clearance": "SECRET", "caveats": ["ITAR"]}))).await.ok(200);
    assert_eq!(me["clearance"], json!({"level": {"name": "SECRET", "order": 2}, "tags": ["ITAR"]}));
    let level_only = http.get("/api/v1/me", &token(json!({"clearance": "INTERNAL"}))).await.ok(200);
    assert_eq!(
        level_only["clearance"],
        json!({"level": {"name": "INTERNAL", "order": 1}, "tags": ["ITAR"]}),
        "absent tags claim: tags stay"
    );
    http.get("/api/v1/me", &token(json!({"clearance": "TOP"})))
        .await
        .refused(403, "the token of 'carol' claims clearance level 'TOP', which is not one of this platform's levels");
    http.get("/api/v1/me", &token(json!({"caveats": "ITAR, NOPE"})))
        .await
        .refused(403, "the token of 'carol' claims control tag(s) not active on this platform: NOPE");
    http.get("/api/v1/me", &token(json!({"clearance": 3})))
        .await
        .refused(403, "clearance level claim 'clearance' of the token of 'carol' is 3, not a level name");
    // Without the claims the admin-set clearance stands; the server without the setting ignores them.
    let plain = http.get("/api/v1/me", &token(json!({}))).await.ok(200);
    assert_eq!(plain["clearance"]["level"]["name"], json!("INTERNAL"));
    let ignored = s.http.get("/api/v1/me", &token(json!({"clearance": "PUBLIC"}))).await.ok(200);
    assert_eq!(ignored["clearance"]["level"]["name"], json!("INTERNAL"), "claims only count where configured");
    let audit = s.http.get("/api/v1/platform/audit?limit=1", &s.admin).await.ok(200);
    assert_eq!(audit["entries"][0]["actor"], json!("token-claims"));
}
