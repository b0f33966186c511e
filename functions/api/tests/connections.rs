//! Creating, editing and archiving connections through the admin API, on one platform.

mod common;

use airlock_protocol::ChannelKeys;
use common::*;
use reqwest::Method;
use secrecy::ExposeSecret;
use serde_json::{json, Value};

/// Typed secrets must be strong now: these have the shape of generated ones.
const SECRET: &str = "tv4qm-x7rke-2bnwz-p5hyd-c3ufa-6jsgl";

fn sending_body() -> Value {
    json!({
        "name": "To Acme", "description": "wing data", "outbox": "OUTBOX", "shared_id": "acme",
        "secret": SECRET, "secret_confirmation": SECRET,
        "permitted_level": "INTERNAL", "permitted_tags": ["ITAR", "PROJECT-X"], "certified": true,
    })
}

async fn create_sending(s: &Single, body: Value) -> Value {
    s.http.post("/api/v1/connections/sending", &s.admin, body).await.ok(201)
}

async fn create_receiving(s: &Single, name: &str, inbox: &str) -> Value {
    let body = json!({"name": name, "inbox": inbox, "shared_id": "acme-x7k2p9qa", "secret": SECRET});
    s.http.post("/api/v1/connections/receiving", &s.admin, body).await.ok(201)["connection"].clone()
}

#[tokio::test]
async fn create_sending_appends_a_suffix_and_echoes_the_secret_once() {
    let s = single().await;
    let created = create_sending(&s, sending_body()).await;
    let shared_id = created["credentials"]["shared_id"].as_str().unwrap();
    assert!(shared_id.starts_with("acme-") && shared_id.len() == "acme-".len() + 8, "{shared_id}");
    assert_eq!(created["credentials"]["shared_secret"], json!(SECRET));
    let view = &created["connection"];
    assert_eq!(view["shared_id"], json!(shared_id));
    assert_eq!(view["kind"], json!("sending"));
    assert_eq!(view["store"], json!("OUTBOX"));
    assert_eq!(view["permitted_level"], json!({"name": "INTERNAL", "order": 1}));
    assert_eq!(view["permitted_tags"], json!(["ITAR", "PROJECT-X"]));
    assert_eq!(view["archived"], json!(false));
    assert_eq!(view["health"], Value::Null);
    assert_eq!(view["transform_count"], json!(0));

    // A second connection on the same outbox is told who else uses it.
    let second = create_sending(
        &s,
        json!({"name": "To Beta", "outbox": "outbox", "shared_id": "beta",
        "secret": SECRET, "secret_confirmation": SECRET, "certified": true}),
    )
    .await;
    assert_eq!(second["connection"]["store_also_used_by"], json!(["To Acme"]));
    assert_eq!(second["connection"]["permitted_level"], Value::Null);
}

#[tokio::test]
async fn create_sending_refuses_bad_input() {
    let s = single().await;
    let cases: Vec<(Value, &str)> = vec![
        (json!({"secret_confirmation": "something-else-entirely"}), "the shared secret and its confirmation differ"),
        (json!({"certified": false}), "a sending connection needs the certification"),
        (json!({"shared_id": "acme corp"}), "shared ID 'acme corp' has characters other than"),
        (json!({"shared_id": "a/b"}), "shared ID 'a/b' has characters other than"),
        (json!({"outbox": "NOPE"}), "object store 'NOPE' is not configured"),
        (json!({"outbox": "registry"}), "store 'REGISTRY' holds the registry's own files"),
        (json!({"secret": "short", "secret_confirmation": "short"}), "shared secret is too easy to guess"),
        (
            json!({"secret": "password1234", "secret_confirmation": "password1234"}),
            "shared secret is too easy to guess",
        ),
        (
            json!({"secret": "Summer2024!!", "secret_confirmation": "Summer2024!!"}),
            "shared secret is too easy to guess",
        ),
        (json!({"permitted_level": "TOP"}), "infosec level 'TOP' is not one of this platform's levels"),
        (json!({"permitted_tags": ["NOT-A-TAG"]}), "control tag(s) not active on this platform: NOT-A-TAG"),
        (json!({"name": "  "}), "connection name is empty"),
    ];
    for (change, message) in cases {
        let mut body = sending_body();
        for (k, v) in change.as_object().unwrap() {
            body[k] = v.clone();
        }
        s.http.post("/api/v1/connections/sending", &s.admin, body).await.refused(400, message);
    }
    let mut body = sending_body();
    body.as_object_mut().unwrap().remove("secret_confirmation");
    s.http
        .post("/api/v1/connections/sending", &s.admin, body)
        .await
        .refused(400, "the shared secret and its confirmation differ");
    assert_eq!(s.http.get("/api/v1/connections", &s.admin).await.ok(200), json!([]), "nothing was created");
}

#[tokio::test]
async fn create_receiving_makes_the_caller_its_first_owner() {
    let s = single().await;
    let view = create_receiving(&s, "From Acme", "INBOX").await;
    assert_eq!(view["kind"], json!("receiving"));
    assert_eq!(view["shared_id"], json!("acme-x7k2p9qa"), "a receiving shared ID is taken as given");
    let id = view["id"].as_str().unwrap();
    let owners = s.http.get(&format!("/api/v1/connections/{id}/owners"), &s.admin).await.ok(200);
    assert_eq!(owners, json!([{"id": "alice", "name": "Alice Admin"}]));

    // A new admin is a registry user from their first request, but without the feature flag.
    let newcomer = s.api.mint("ops-robot", &[ADMIN], HOUR);
    let body = json!({"name": "x", "inbox": "INBOX", "shared_id": "acme-1", "secret": SECRET});
    s.http
        .post("/api/v1/connections/receiving", &newcomer, body.clone())
        .await
        .refused(403, "secure connections is not enabled for user 'ops-robot'");
    s.http.put("/api/v1/me/features", &newcomer, json!({"secure_connections": true})).await.ok(200);
    let created = s.http.post("/api/v1/connections/receiving", &newcomer, body).await.ok(201);
    let id = created["connection"]["id"].as_str().unwrap();
    let owners = s.http.get(&format!("/api/v1/connections/{id}/owners"), &s.admin).await.ok(200);
    assert_eq!(owners, json!([{"id": "ops-robot", "name": "ops-robot"}]), "the newcomer owns what they created");
}

#[tokio::test]
async fn the_shared_secret_appears_only_in_the_create_response() {
    let s = single().await;
    let created = create_sending(&s, sending_body()).await;
    let id = created["connection"]["id"].as_str().unwrap().to_owned();
    let receiving = create_receiving(&s, "From Acme", "INBOX").await;
    let rid = receiving["id"].as_str().unwrap().to_owned();
    let wrapped = s.ctx.repo.connection(&id).await.unwrap().unwrap().wrapped_secret;
    let new_secret = "m2zkq-wy6pd-r4tnx-b7hcv-e5gus-a3fjo";
    let replies = vec![
        s.http.get("/api/v1/connections", &s.admin).await,
        s.http.get("/api/v1/connections?include_archived=true", &s.admin).await,
        s.http.get(&format!("/api/v1/connections/{id}"), &s.admin).await,
        s.http.get(&format!("/api/v1/connections/{rid}"), &s.admin).await,
        s.http.patch(&format!("/api/v1/connections/{id}"), &s.admin, json!({"name": "Renamed"})).await,
        s.http
            .patch(
                &format!("/api/v1/connections/{id}"),
                &s.admin,
                json!({"secret": new_secret, "secret_confirmation": new_secret}),
            )
            .await,
        s.http.patch(&format!("/api/v1/connections/{rid}"), &s.admin, json!({"secret": new_secret})).await,
        s.http.get(&format!("/api/v1/connections/{id}/transforms"), &s.admin).await,
        s.http.put(&format!("/api/v1/connections/{id}/transforms"), &s.admin, json!({"rules": []})).await,
        s.http.get(&format!("/api/v1/connections/{id}/sync-events"), &s.admin).await,
        s.http.get(&format!("/api/v1/connections/{rid}/owners"), &s.admin).await,
        s.http.get("/api/v1/platform", &s.admin).await,
        s.http.get("/api/v1/sharing-targets", &s.admin).await,
        s.http.post(&format!("/api/v1/connections/{id}/archive"), &s.admin, json!({"confirm": true})).await,
        s.http.send(Method::GET, "/openapi.json", None, None).await,
    ];
    for reply in replies {
        assert!(reply.status < 300, "{}", reply.text);
        for secret in [SECRET, new_secret, wrapped.as_str()] {
            assert!(!reply.text.contains(secret), "a response carries a shared secret: {}", reply.text);
        }
    }
}

#[tokio::test]
async fn store_change_needs_confirmation() {
    let s = single().await;
    let id = create_sending(&s, sending_body()).await["connection"]["id"].as_str().unwrap().to_owned();
    let path = format!("/api/v1/connections/{id}");
    s.http.patch(&path, &s.admin, json!({"store": "OUTBOX-2"})).await.refused(
        400,
        "changing the store of 'To Acme' from 'OUTBOX' to 'OUTBOX-2' needs \"confirm_store_change\": true",
    );
    s.http
        .patch(&path, &s.admin, json!({"store": "NOPE", "confirm_store_change": true}))
        .await
        .refused(400, "object store 'NOPE'");
    // Naming the current store is no change.
    assert_eq!(s.http.patch(&path, &s.admin, json!({"store": "outbox"})).await.ok(200)["store"], json!("OUTBOX"));
    let view = s.http.patch(&path, &s.admin, json!({"store": "OUTBOX-2", "confirm_store_change": true})).await.ok(200);
    assert_eq!(view["store"], json!("OUTBOX-2"));
}

#[tokio::test]
async fn a_secret_is_replaced_only_by_a_patch_that_carries_it() {
    let s = single().await;
    let id = create_sending(&s, sending_body()).await["connection"]["id"].as_str().unwrap().to_owned();
    let path = format!("/api/v1/connections/{id}");
    let stored = || async { s.ctx.repo.connection(&id).await.unwrap().unwrap().wrapped_secret };
    let unwrap = |wrapped: String| s.ctx.master.unwrap(&wrapped).unwrap().expose_secret().to_owned();
    let before = stored().await;

    let view = s
        .http
        .patch(&path, &s.admin, json!({"name": "To Acme Corp", "description": "", "permitted_tags": ["ITAR"]}))
        .await
        .ok(200);
    assert_eq!((view["name"].clone(), view["permitted_tags"].clone()), (json!("To Acme Corp"), json!(["ITAR"])));
    assert_eq!(stored().await, before, "a patch without a secret leaves it alone");

    let staged = "h6nqs-k2wvd-y7prm-t3zbx-c5jea-u4gfi";
    s.http
        .patch(&path, &s.admin, json!({"secret": staged, "secret_confirmation": "typo"}))
        .await
        .refused(400, "the shared secret and its confirmation differ");
    s.http
        .patch(&path, &s.admin, json!({"secret": staged}))
        .await
        .refused(400, "the shared secret and its confirmation differ");
    s.http
        .patch(&path, &s.admin, json!({"secret": "short", "secret_confirmation": "short"}))
        .await
        .refused(400, "shared secret is too easy to guess");
    assert_eq!(stored().await, before, "refused patches change nothing");

    s.http.patch(&path, &s.admin, json!({"secret": staged, "secret_confirmation": staged})).await.ok(200);
    assert_eq!(unwrap(stored().await), staged);

    // A receiving secret comes from the partner: entered once.
    let rid = create_receiving(&s, "From Acme", "INBOX").await["id"].as_str().unwrap().to_owned();
    s.http.patch(&format!("/api/v1/connections/{rid}"), &s.admin, json!({"secret": staged})).await.ok(200);
    let received = s.ctx.repo.connection(&rid).await.unwrap().unwrap().wrapped_secret;
    assert_eq!(unwrap(received), staged);
    s.http
        .patch(&format!("/api/v1/connections/{rid}"), &s.admin, json!({"permitted_tags": ["ITAR"]}))
        .await
        .refused(400, "permitted level and tags apply to sending connections only");
}

#[tokio::test]
async fn permitted_level_can_be_cleared_with_null() {
    let s = single().await;
    let id = create_sending(&s, sending_body()).await["connection"]["id"].as_str().unwrap().to_owned();
    let path = format!("/api/v1/connections/{id}");
    let view = s.http.patch(&path, &s.admin, json!({"description": "x"})).await.ok(200);
    assert_eq!(view["permitted_level"]["name"], json!("INTERNAL"), "absent leaves it");
    let view = s.http.patch(&path, &s.admin, json!({"permitted_level": "SECRET"})).await.ok(200);
    assert_eq!(view["permitted_level"], json!({"name": "SECRET", "order": 2}));
    let view = s.http.patch(&path, &s.admin, json!({"permitted_level": null})).await.ok(200);
    assert_eq!(view["permitted_level"], Value::Null);
    s.http.patch(&path, &s.admin, json!({"permitted_level": "TOP"})).await.refused(400, "infosec level 'TOP'");
}

#[tokio::test]
async fn archiving_is_confirmed_irreversible_and_hides_the_connection() {
    let s = single().await;
    let id = create_sending(&s, sending_body()).await["connection"]["id"].as_str().unwrap().to_owned();
    let rid = create_receiving(&s, "From Acme", "INBOX").await["id"].as_str().unwrap().to_owned();
    let archive = format!("/api/v1/connections/{id}/archive");
    s.http.post(&archive, &s.admin, json!({})).await.refused(400, "archiving 'To Acme' stops its sync for good");
    let view = s.http.post(&archive, &s.admin, json!({"confirm": true})).await.ok(200);
    assert_eq!(view["archived"], json!(true));
    assert!(view["archived_at"].as_i64().unwrap() > 0);

    s.http
        .post(&archive, &s.admin, json!({"confirm": true}))
        .await
        .refused(409, &format!("connection '{id}' is already archived"));
    let path = format!("/api/v1/connections/{id}");
    s.http
        .patch(&path, &s.admin, json!({"name": "back"}))
        .await
        .refused(409, &format!("connection '{id}' is archived"));
    s.http.put(&format!("{path}/transforms"), &s.admin, json!({"rules": []})).await.refused(409, "connection");
    s.http.post(&format!("{path}/sync"), &s.admin, json!({})).await.refused(409, "connection");
    assert_eq!(s.http.get(&path, &s.admin).await.ok(200)["archived"], json!(true), "still readable");

    let names =
        |v: Value| v.as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap().to_owned()).collect::<Vec<_>>();
    assert_eq!(names(s.http.get("/api/v1/connections", &s.admin).await.ok(200)), vec!["From Acme"]);
    assert_eq!(
        names(s.http.get("/api/v1/connections?include_archived=true", &s.admin).await.ok(200)),
        vec!["From Acme", "To Acme"]
    );
    assert_eq!(names(s.http.get("/api/v1/connections?kind=receiving", &s.admin).await.ok(200)), vec!["From Acme"]);
    s.http.get("/api/v1/connections?kind=both", &s.admin).await.refused(400, "connection kind 'both'");

    s.http.post(&format!("/api/v1/connections/{rid}/archive"), &s.admin, json!({"confirm": true})).await.ok(200);
    s.http
        .put(&format!("/api/v1/connections/{rid}/owners"), &s.admin, json!({"user_ids": ["bob"]}))
        .await
        .refused(409, "connection");
    s.http.get("/api/v1/connections/no-such-id", &s.admin).await.refused(404, "connection 'no-such-id' not found");
}

#[tokio::test]
async fn owners_belong_to_receiving_connections_only() {
    let s = single().await;
    let id = create_sending(&s, sending_body()).await["connection"]["id"].as_str().unwrap().to_owned();
    s.http.get(&format!("/api/v1/connections/{id}/owners"), &s.admin).await.refused(400, "owners apply to receiving");
    s.http
        .put(&format!("/api/v1/connections/{id}/owners"), &s.admin, json!({"user_ids": ["bob"]}))
        .await
        .refused(400, "owners apply to receiving");
    let rid = create_receiving(&s, "From Acme", "INBOX").await["id"].as_str().unwrap().to_owned();
    let path = format!("/api/v1/connections/{rid}/owners");
    let owners = s.http.put(&path, &s.admin, json!({"user_ids": ["bob", "carol", "bob"]})).await.ok(200);
    assert_eq!(owners, json!([{"id": "bob", "name": "Bob Builder"}, {"id": "carol", "name": "Carol"}]));
    s.http.put(&path, &s.admin, json!({"user_ids": ["bob", "nobody"]})).await.refused(400, "user 'nobody' not found");
    assert_eq!(
        s.http.get(&path, &s.admin).await.ok(200).as_array().unwrap().len(),
        2,
        "a refused update changes nothing"
    );
}

#[tokio::test]
async fn platform_and_user_search() {
    let s = single().await;
    let platform = s.http.get("/api/v1/platform", &s.admin).await.ok(200);
    assert_eq!(platform["infosec_enabled"], json!(true));
    let levels: Vec<&str> =
        platform["levels"].as_array().unwrap().iter().map(|l| l["name"].as_str().unwrap()).collect();
    assert_eq!(levels, ["PUBLIC", "INTERNAL", "SECRET"], "levels in order");
    assert_eq!(platform["max_level"], json!({"name": "SECRET", "order": 2}));
    assert_eq!(platform["control_tags"], json!(["EXPORT-CTRL", "ITAR", "PROJECT-X"]));
    assert_eq!(platform["stores"], json!(["INBOX", "INBOX-2", "OUTBOX", "OUTBOX-2"]), "never the registry store");

    let found = s.http.get("/api/v1/users?search=BO", &s.admin).await.ok(200);
    assert_eq!(found, json!([{"id": "bob", "name": "Bob Builder"}]));
    let found = s.http.get("/api/v1/users?search=ali", &s.admin).await.ok(200);
    assert_eq!(found, json!([{"id": "alice", "name": "Alice Admin"}]));
    assert_eq!(s.http.get("/api/v1/users", &s.admin).await.ok(200).as_array().unwrap().len(), 3);
}

fn is_generated(secret: &str) -> bool {
    let groups: Vec<&str> = secret.split('-').collect();
    groups.len() == 6
        && groups.iter().all(|g| g.len() == 5 && g.bytes().all(|b| matches!(b, b'a'..=b'z' | b'2'..=b'7')))
}

#[tokio::test]
async fn the_shared_secret_is_generated_unless_typed() {
    let s = single().await;
    let mut body = sending_body();
    body.as_object_mut().unwrap().remove("secret");
    body.as_object_mut().unwrap().remove("secret_confirmation");
    let created = create_sending(&s, body.clone()).await;
    let secret = created["credentials"]["shared_secret"].as_str().unwrap().to_owned();
    assert!(is_generated(&secret), "{secret}");
    let id = created["connection"]["id"].as_str().unwrap();
    let stored = s.ctx.repo.connection(id).await.unwrap().unwrap().wrapped_secret;
    assert_eq!(s.ctx.master.unwrap(&stored).unwrap().expose_secret(), secret, "the generated secret is the one kept");
    let again = create_sending(&s, body).await;
    assert_ne!(again["credentials"]["shared_secret"].as_str().unwrap(), secret, "a fresh secret every time");
}

#[tokio::test]
async fn a_weak_typed_secret_is_refused_with_why_and_a_generated_one() {
    let s = single().await;
    let mut body = sending_body();
    body["secret"] = json!("password1234");
    body["secret_confirmation"] = json!("password1234");
    let reply = s.http.post("/api/v1/connections/sending", &s.admin, body).await;
    reply.refused(400, "shared secret is too easy to guess: ");
    let message = reply.error();
    assert!(message.contains("at least 10^14 are required"), "{message}");
    let offered = message.strip_suffix('\'').unwrap().rsplit("use one like '").next().unwrap();
    assert!(is_generated(offered), "the refusal offers a generated secret: {message}");
    // The offered secret is accepted as typed.
    let mut body = sending_body();
    body["secret"] = json!(offered);
    body["secret_confirmation"] = json!(offered);
    create_sending(&s, body).await;
    // Receiving connections take the same rule: the partner's secret must be strong too.
    let body = json!({"name": "From Acme", "inbox": "INBOX", "shared_id": "acme-x7k2p9qa", "secret": "Summer2024!!"});
    s.http
        .post("/api/v1/connections/receiving", &s.admin, body)
        .await
        .refused(400, "shared secret is too easy to guess");
}

#[tokio::test]
async fn channel_keys_are_derived_once_per_secret_and_stored_wrapped() {
    let s = single().await;
    let id = create_sending(&s, sending_body()).await["connection"]["id"].as_str().unwrap().to_owned();
    let stored_keys = || async { s.ctx.repo.wrapped_channel_key(&id).await.unwrap() };
    let connection = || async { s.ctx.repo.connection(&id).await.unwrap().unwrap() };
    let first = stored_keys().await.expect("derived at creation");
    assert!(!first.contains(SECRET));
    let c = connection().await;
    assert!(ChannelKeys::unwrap(&s.ctx.master, &first, &c.wrapped_secret).is_ok(), "bound to the stored secret");
    s.ctx.channel_keys(&c).await.unwrap();
    assert_eq!(stored_keys().await.unwrap(), first, "a sync uses the stored keys: nothing is derived again");

    // A secret reset derives anew; the old keys no longer match the new secret.
    let path = format!("/api/v1/connections/{id}");
    let staged = "h6nqs-k2wvd-y7prm-t3zbx-c5jea-u4gfi";
    s.http.patch(&path, &s.admin, json!({"secret": staged, "secret_confirmation": staged})).await.ok(200);
    let second = stored_keys().await.unwrap();
    assert_ne!(second, first);
    let c = connection().await;
    assert!(ChannelKeys::unwrap(&s.ctx.master, &second, &c.wrapped_secret).is_ok());
    assert!(ChannelKeys::unwrap(&s.ctx.master, &first, &c.wrapped_secret).is_err());

    // A connection stored without derived keys (made before they were kept) derives them on
    // first use, once.
    let mut old = connection().await;
    old.id = "made-before-derived-keys".into();
    s.ctx.repo.create_connection(&old).await.unwrap();
    assert_eq!(s.ctx.repo.wrapped_channel_key(&old.id).await.unwrap(), None);
    s.ctx.channel_keys(&old).await.unwrap();
    let derived = s.ctx.repo.wrapped_channel_key(&old.id).await.unwrap().expect("derived on first use");
    s.ctx.channel_keys(&old).await.unwrap();
    assert_eq!(s.ctx.repo.wrapped_channel_key(&old.id).await.unwrap().unwrap(), derived, "and only once");
}

#[tokio::test]
async fn a_reset_sending_secret_is_generated_on_request_and_shown_once() {
    let s = single().await;
    let id = create_sending(&s, sending_body()).await["connection"]["id"].as_str().unwrap().to_owned();
    let path = format!("/api/v1/connections/{id}");
    let reply = s.http.patch(&path, &s.admin, json!({"generate_secret": true})).await.ok(200);
    let secret = reply["credentials"]["shared_secret"].as_str().expect("the new secret, this once").to_owned();
    assert_eq!(reply["credentials"]["shared_id"], reply["shared_id"]);
    assert_eq!((secret.len(), secret.split('-').count()), (35, 6), "{secret}");
    let stored = s.ctx.repo.connection(&id).await.unwrap().unwrap().wrapped_secret;
    assert_eq!(s.ctx.master.unwrap(&stored).unwrap().expose_secret(), secret, "the one stored");
    let again = s.http.get(&path, &s.admin).await.ok(200);
    assert!(again.get("credentials").is_none() && !again.to_string().contains(&secret), "never shown again");

    let both = json!({"generate_secret": true, "secret": SECRET, "secret_confirmation": SECRET});
    s.http.patch(&path, &s.admin, both).await.refused(400, "give either \"secret\" or \"generate_secret\": true");
    let receiving = create_receiving(&s, "From Acme", "INBOX").await;
    let receiving_path = format!("/api/v1/connections/{}", receiving["id"].as_str().unwrap());
    s.http
        .patch(&receiving_path, &s.admin, json!({"generate_secret": true}))
        .await
        .refused(400, "'From Acme' is a receiving connection: its secret is the one the partner generated");
}

#[tokio::test]
async fn a_new_receiving_secret_resets_the_replay_state_and_the_same_one_keeps_it() {
    let s = single().await;
    let id = create_receiving(&s, "From Acme", "INBOX").await["id"].as_str().unwrap().to_owned();
    let path = format!("/api/v1/connections/{id}");
    // What a manifest forged with a leaked secret leaves: a sequence nothing can follow.
    let forged = airlock_repo::ManifestState {
        connection_id: id.clone(),
        shard: 0,
        sequence: i64::MAX as u64,
        digest: "00".repeat(32),
    };
    s.ctx.repo.put_manifest_state(&forged).await.unwrap();

    s.http.patch(&path, &s.admin, json!({"secret": SECRET})).await.ok(200);
    assert_eq!(
        s.ctx.repo.manifest_state(&id, 0).await.unwrap(),
        Some(forged),
        "the same secret again: manifests already seen stay replays"
    );
    let rotated = "h6nqs-k2wvd-y7prm-t3zbx-c5jea-u4gfi";
    s.http.patch(&path, &s.admin, json!({"secret": rotated})).await.ok(200);
    assert_eq!(s.ctx.repo.manifest_state(&id, 0).await.unwrap(), None, "a new secret starts the sequences afresh");
}
