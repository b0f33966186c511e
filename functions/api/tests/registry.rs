//! The registry API: streamed upload, listing, clearance-gated content, sharing with a
//! sending connection (and its refusals), and resharing to a viewer at the receiving side.

mod common;

use airlock_domain::{Clearance, InfosecLevel, User};
use airlock_local::pair::{ALICE, BOB, CAROL};
use common::*;
use futures::stream;
use reqwest::Method;
use serde_json::{json, Value};

/// Uploads `chunks` as a streamed body (no content length), as a large file would go.
async fn upload(http: &Http, token: &str, query: &str, chunks: Vec<&'static [u8]>) -> Reply {
    let body = reqwest::Body::wrap_stream(stream::iter(chunks.into_iter().map(Ok::<_, std::io::Error>)));
    let response = http
        .client
        .post(format!("{}/api/v1/files?{query}", http.base))
        .bearer_auth(token)
        .header("content-type", "application/octet-stream")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    Reply { status, text: response.text().await.unwrap() }
}

async fn content(http: &Http, token: &str, id: &str) -> (u16, Vec<u8>) {
    let response =
        http.client.get(format!("{}/api/v1/files/{id}/content", http.base)).bearer_auth(token).send().await.unwrap();
    (response.status().as_u16(), response.bytes().await.unwrap().to_vec())
}

fn names(files: &Value) -> Vec<String> {
    files.as_array().unwrap().iter().map(|f| f["name"].as_str().unwrap().to_owned()).collect()
}

#[tokio::test]
async fn upload_list_read_and_share_at_the_sending_side() {
    let d = duo().await;
    let alice = d.api_a.mint(ALICE, &[], HOUR);
    let chunks: Vec<&'static [u8]> = vec![b"ISO-10303-21;\n", b"DATA;\n", b"ENDSEC;\n"];
    let spar = upload(&d.a, &alice, "name=spar.step&level=INTERNAL&tags=ITAR,PROJECT-X", chunks).await.ok(201);
    assert_eq!(spar["name"], json!("spar.step"));
    assert_eq!(spar["level"], json!({"name": "INTERNAL", "order": 1}));
    assert_eq!(spar["tags"], json!(["ITAR", "PROJECT-X"]));
    assert_eq!(spar["size"], json!(28));
    assert_eq!(spar["owner_id"], json!(ALICE));
    assert_eq!(spar["origin_connection_id"], Value::Null);
    let spar_id = spar["id"].as_str().unwrap().to_owned();

    assert_eq!(names(&d.a.get("/api/v1/files", &alice).await.ok(200)), ["spar.step"]);
    assert_eq!(content(&d.a, &alice, &spar_id).await, (200, b"ISO-10303-21;\nDATA;\nENDSEC;\n".to_vec()));

    // Larger than axum's default body limit (2 MiB): uploads are streamed, never capped.
    let big: Vec<&'static [u8]> = (0..48).map(|_| &[7u8; 64 * 1024][..]).collect();
    let big = upload(&d.a, &alice, "name=big.bin&level=PUBLIC", big).await.ok(201);
    assert_eq!(big["size"], json!(48 * 64 * 1024));

    upload(&d.a, &alice, "name=x&level=TOP", vec![b"x"]).await.refused(400, "infosec level 'TOP' is not one of");
    upload(&d.a, &alice, "name=x&level=PUBLIC&tags=NOPE", vec![b"x"]).await.refused(400, "control tag(s) not active");
    upload(&d.a, &alice, "level=PUBLIC", vec![b"x"]).await.refused(400, "query string refused");

    let targets = d.a.get("/api/v1/sharing-targets", &alice).await.ok(200);
    assert_eq!(targets, json!([{"id": d.pair.sending.id, "name": "To partner B"}]));
    let shares = format!("/api/v1/files/{spar_id}/shares");
    let to_b = |certified: bool| json!({"connection_id": d.pair.sending.id, "certified": certified});
    d.a.post(&shares, &alice, to_b(false))
        .await
        .refused(400, "sharing with a secure connection needs the certification");
    d.a.post(&shares, &alice, json!({"connection_id": "nope", "certified": true}))
        .await
        .refused(400, "connection 'nope' is not an active sending connection");

    // Another user of A, cleared to see the file through a viewer grant, still can't share it.
    let dave = User {
        id: "dave".into(),
        name: "Dave".into(),
        clearance: Clearance { level: InfosecLevel::new("SECRET", 2), tags: tags(&["ITAR", "PROJECT-X"]) },
    };
    d.pair.a.ctx.repo.put_user(&dave).await.unwrap();
    let dave_token = d.api_a.mint("dave", &[], HOUR);
    assert_eq!(content(&d.a, &dave_token, &spar_id).await.0, 403, "not granted yet");
    d.a.post(&format!("/api/v1/files/{spar_id}/viewers"), &alice, json!({"user_id": "dave"})).await.ok(204);
    assert_eq!(content(&d.a, &dave_token, &spar_id).await.0, 200);
    d.a.post(&shares, &dave_token, to_b(true)).await.refused(403, "user 'dave' may not share file");

    let secret = upload(&d.a, &alice, "name=plan.pdf&level=SECRET", vec![b"plan"]).await.ok(201);
    d.a.post(&format!("/api/v1/files/{}/shares", secret["id"].as_str().unwrap()), &alice, to_b(true))
        .await
        .refused(400, "file 'plan.pdf' is not eligible for this connection");
    d.a.post(&shares, &alice, to_b(true)).await.ok(204);
    assert_eq!(d.pair.a.ctx.repo.active_shares(&d.pair.sending.id).await.unwrap().len(), 1);
}

#[tokio::test]
async fn received_files_are_gated_by_clearance_and_reshared_to_viewers_only() {
    let d = duo().await;
    let spar = d.pair.upload("spar.step", "INTERNAL", &["ITAR"], b"spar bytes").await.unwrap();
    let readme = d.pair.upload("readme.txt", "PUBLIC", &[], b"hello").await.unwrap();
    d.pair.share(&spar.id).await.unwrap();
    d.pair.share(&readme.id).await.unwrap();
    d.pair.sync().await.unwrap();

    let bob = d.api_b.mint(BOB, &[], HOUR);
    let carol = d.api_b.mint(CAROL, &[], HOUR);
    let bob_files = d.b.get("/api/v1/files", &bob).await.ok(200);
    assert_eq!(names(&bob_files), ["readme.txt", "spar.step"]);
    let spar_b = bob_files.as_array().unwrap().iter().find(|f| f["name"] == json!("spar.step")).unwrap().clone();
    let spar_id = spar_b["id"].as_str().unwrap().to_owned();
    assert_eq!(spar_b["origin_connection_id"], json!(d.pair.receiving.id));
    assert_eq!(spar_b["tags"], json!(["B-ITAR", "FROM-PARTNER-A"]));
    assert_eq!(spar_b["size"], json!(10));
    assert_eq!(content(&d.b, &bob, &spar_id).await, (200, b"spar bytes".to_vec()));

    // Carol owns the connection too, but lacks the level and the tag: ownership doesn't lift that.
    assert_eq!(names(&d.b.get("/api/v1/files", &carol).await.ok(200)), ["readme.txt"]);
    let (status, body) = content(&d.b, &carol, &spar_id).await;
    assert_eq!(status, 403);
    let error: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        error["error"],
        json!(format!(
            "user 'carol' may not read file '{spar_id}': not visible to this user (ownership, level or tags)"
        ))
    );
    assert_eq!(content(&d.b, &carol, "no-such-file").await.0, 403, "unknown ids look the same as hidden ones");
    d.b.post(&format!("/api/v1/files/{spar_id}/viewers"), &carol, json!({"user_id": "carol"}))
        .await
        .refused(403, "user 'carol' may not reshare file");

    // Bob reshares at viewer level to a cleared colleague, never to a secure connection.
    let erin = User {
        id: "erin".into(),
        name: "Erin".into(),
        clearance: Clearance { level: InfosecLevel::new("RESTRICTED", 1), tags: tags(&["B-ITAR", "FROM-PARTNER-A"]) },
    };
    d.pair.b.ctx.repo.put_user(&erin).await.unwrap();
    let erin_token = d.api_b.mint("erin", &[], HOUR);
    assert_eq!(d.b.get("/api/v1/files", &erin_token).await.ok(200), json!([]));
    let viewers = format!("/api/v1/files/{spar_id}/viewers");
    d.b.post(&viewers, &bob, json!({"user_id": "nobody"})).await.refused(400, "user 'nobody' not found");
    d.b.post(&viewers, &bob, json!({"user_id": "erin"})).await.ok(204);
    assert_eq!(names(&d.b.get("/api/v1/files", &erin_token).await.ok(200)), ["spar.step"]);
    assert_eq!(content(&d.b, &erin_token, &spar_id).await, (200, b"spar bytes".to_vec()));
    // A viewer can see it but is neither its owner nor an owner of the connection: no resharing.
    d.b.post(&viewers, &erin_token, json!({"user_id": "carol"})).await.refused(
        403,
        &format!(
            "user 'erin' may not reshare file '{spar_id}': only the file's owner or an owner of the receiving \
             connection it arrived through reshares it"
        ),
    );

    d.b.post(
        &format!("/api/v1/files/{spar_id}/shares"),
        &bob,
        json!({"connection_id": d.pair.receiving.id, "certified": true}),
    )
    .await
    .refused(403, "user 'bob' may not share file");
    let reply = d.b.send(Method::GET, "/api/v1/files", None, None).await;
    reply.refused(401, "missing bearer token");
}

#[tokio::test]
async fn sharing_needs_the_sharers_own_clearance_for_the_file() {
    let d = duo().await;
    let alice = d.api_a.mint(ALICE, &[], HOUR);
    let spar = upload(&d.a, &alice, "name=spar.step&level=INTERNAL&tags=ITAR", vec![b"spar"]).await.ok(201);
    let shares = format!("/api/v1/files/{}/shares", spar["id"].as_str().unwrap());
    // Alice's clearance is lowered after the upload: she still owns the file but no longer holds it.
    let repo = &d.pair.a.ctx.repo;
    let mut lowered = repo.user(ALICE).await.unwrap().unwrap();
    let cleared = lowered.clone();
    lowered.clearance = Clearance { level: InfosecLevel::new("INTERNAL", 1), tags: tags(&["PROJECT-X"]) };
    repo.put_user(&lowered).await.unwrap();
    let body = json!({"connection_id": d.pair.sending.id, "certified": true});
    d.a.post(&shares, &alice, body.clone()).await.refused(
        403,
        &format!(
            "user 'alice' may not share file '{}': the user's own clearance does not cover the file's level and tags",
            spar["id"].as_str().unwrap()
        ),
    );
    assert!(repo.active_shares(&d.pair.sending.id).await.unwrap().is_empty(), "nothing was shared");
    repo.put_user(&cleared).await.unwrap();
    d.a.post(&shares, &alice, body).await.ok(204);
}

/// Uploads a new revision of `id` as a streamed body.
async fn revise(http: &Http, token: &str, id: &str, bytes: &'static [u8]) -> Reply {
    let response = http
        .client
        .post(format!("{}/api/v1/files/{id}/revisions", http.base))
        .bearer_auth(token)
        .body(bytes)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    Reply { status, text: response.text().await.unwrap() }
}

#[tokio::test]
async fn owners_revise_reclassify_and_unshare_their_files() {
    let d = duo().await;
    let alice = d.api_a.mint(ALICE, &[], HOUR);
    let mallory = d.api_a.mint("mallory", &[], HOUR);
    let file = upload(&d.a, &alice, "name=spec.txt&level=PUBLIC", vec![b"v1"]).await.ok(201);
    let id = file["id"].as_str().unwrap().to_owned();

    let revised = revise(&d.a, &alice, &id, b"version 2").await.ok(201);
    assert_eq!((revised["id"].clone(), revised["size"].clone()), (json!(id), json!(9)));
    revise(&d.a, &mallory, &id, b"x").await.refused(403, &format!("user 'mallory' may not revise file '{id}'"));
    revise(&d.a, &alice, "no-such-file", b"x").await.refused(404, "file 'no-such-file' not found");
    let revisions = d.a.get(&format!("/api/v1/files/{id}/revisions"), &alice).await.ok(200);
    let sizes: Vec<u64> = revisions.as_array().unwrap().iter().map(|r| r["size"].as_u64().unwrap()).collect();
    assert_eq!(sizes, [9, 2], "newest first");
    d.a.get(&format!("/api/v1/files/{id}/revisions"), &mallory)
        .await
        .refused(403, &format!("user 'mallory' may not list revisions of file '{id}'"));

    let patch = format!("/api/v1/files/{id}");
    let changed = d.a.patch(&patch, &alice, json!({"level": "INTERNAL", "tags": ["ITAR"]})).await.ok(200);
    assert_eq!((changed["level"]["name"].clone(), changed["tags"].clone()), (json!("INTERNAL"), json!(["ITAR"])));
    assert_eq!(changed["size"], json!(9));
    d.a.patch(&patch, &alice, json!({"level": "TOP"})).await.refused(400, "infosec level 'TOP' is not one of");
    d.a.patch(&patch, &alice, json!({"tags": ["NOPE"]}))
        .await
        .refused(400, "control tag(s) not active on this platform: NOPE");
    d.a.patch(&patch, &alice, json!({})).await.refused(400, &format!("nothing to change for file '{id}'"));
    d.a.patch(&patch, &alice, json!({"level": 3})).await.refused(400, "request body refused");
    d.a.patch(&patch, &mallory, json!({"level": "PUBLIC"}))
        .await
        .refused(403, &format!("user 'mallory' may not reclassify file '{id}'"));
    let low = upload(&d.a, &mallory, "name=note.txt&level=PUBLIC", vec![b"n"]).await.ok(201);
    d.a.patch(&format!("/api/v1/files/{}", low["id"].as_str().unwrap()), &mallory, json!({"level": "SECRET"}))
        .await
        .refused(403, "user 'mallory' may not reclassify file");
    let unchanged = d.a.get("/api/v1/files", &alice).await.ok(200);
    let stored = unchanged.as_array().unwrap().iter().find(|f| f["id"] == json!(id)).unwrap().clone();
    assert_eq!(stored["level"]["name"], json!("INTERNAL"), "refusals changed nothing");

    d.a.post(
        &format!("/api/v1/files/{id}/shares"),
        &alice,
        json!({"connection_id": d.pair.sending.id, "certified": true}),
    )
    .await
    .ok(204);
    let shares = d.a.get(&format!("/api/v1/files/{id}/shares"), &alice).await.ok(200);
    assert_eq!(shares[0]["connection_id"], json!(d.pair.sending.id));
    assert_eq!(
        (shares[0]["connection_name"].clone(), shares[0]["shared_by"].clone()),
        (json!("To partner B"), json!(ALICE))
    );
    d.a.get(&format!("/api/v1/files/{id}/shares"), &mallory)
        .await
        .refused(403, "user 'mallory' may not list the shares of");
    d.pair.sync().await.unwrap();
    let at_b: Vec<String> = d.pair.files_at_b(BOB).await.unwrap().into_iter().map(|(r, _)| r.name).collect();
    assert_eq!(at_b, ["spec.txt"], "the shared file arrived");

    let unshare = format!("/api/v1/files/{id}/shares/{}", d.pair.sending.id);
    d.a.send(Method::DELETE, &unshare, Some(&mallory), None).await.refused(403, "user 'mallory' may not unshare file");
    assert_eq!(d.a.send(Method::DELETE, &unshare, Some(&alice), None).await.status, 204);
    d.a.send(Method::DELETE, &unshare, Some(&alice), None)
        .await
        .refused(404, &format!("file '{id}' is not shared with connection '{}'", d.pair.sending.id));
    assert_eq!(d.a.get(&format!("/api/v1/files/{id}/shares"), &alice).await.ok(200), json!([]));
    let all = d.pair.a.ctx.repo.all_shares(&d.pair.sending.id).await.unwrap();
    assert_eq!(all[0].removed_reason.as_deref(), Some("unshared by its owner 'alice'"));
    d.pair.sync().await.unwrap();
    assert!(d.pair.files_at_b(BOB).await.unwrap().is_empty(), "the unshared file left the next manifest");
}
