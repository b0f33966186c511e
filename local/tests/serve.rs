//! `airlock serve` started in-process: what an operator's first minutes need to work.

mod common;

use common::{options, secret, start, Api, ServeOptionsExt};
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test]
async fn serve_answers_health_serves_the_panel_and_its_sign_in_token_works() {
    let temp = tempfile::tempdir().unwrap();
    let served = start(options(&temp.path().join("data"))).await;
    let api = Api::new(&served);

    let (status, health) = api.get("/healthz").await;
    assert_eq!((status, health), (StatusCode::OK, json!({"status": "ok"})));
    let page = reqwest::get(served.panel_url()).await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert!(page.text().await.unwrap().contains("/assets/app.js"), "the panel's page loads its script");

    let link = served.sign_in_url();
    assert_eq!(link, format!("{}/admin/secure-connections#token={}", served.url, served.admin_token));
    let (status, platform) = api.get("/api/v1/platform").await;
    assert_eq!(status, StatusCode::OK, "{platform}");
    let stores = platform["stores"].as_array().unwrap();
    assert!(stores.contains(&json!("INBOX")) && stores.contains(&json!("OUTBOX")), "{platform}");

    // The same route refuses no token, and a token of another platform's issuer.
    let anonymous = reqwest::get(format!("{}/api/v1/platform", served.url)).await.unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    let other = start(options(&temp.path().join("other"))).await;
    let foreign = Api::new(&served).with_token(&other.admin_token);
    let (status, refusal) = foreign.get("/api/v1/platform").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{refusal}");
}

#[tokio::test]
async fn the_data_directory_survives_a_restart() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("data");
    let first = start(options(&dir)).await;
    let api = Api::new(&first);
    let (_, keys) = api.get("/oauth/v2/keys").await;
    let kid = keys["keys"][0]["kid"].clone();
    let secret_file = std::fs::read_to_string(dir.join("master-secret")).unwrap();
    let s = secret();
    let (status, created) = api
        .post(
            "/api/v1/connections/sending",
            json!({"name": "To B", "description": "", "outbox": "OUTBOX", "shared_id": "a-to-b", "secret": s,
                   "secret_confirmation": s, "permitted_level": null, "permitted_tags": [], "certified": true}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let old_token = first.admin_token.clone();
    drop(first);

    let again = start(options(&dir)).await;
    let api = Api::new(&again).with_token(&old_token);
    let (_, keys) = api.get("/oauth/v2/keys").await;
    assert_eq!(keys["keys"][0]["kid"], kid, "the issuer key is the same");
    assert_eq!(std::fs::read_to_string(dir.join("master-secret")).unwrap(), secret_file);
    let (status, list) = api.get("/api/v1/connections").await;
    assert_eq!(status, StatusCode::OK, "a token minted before the restart still signs in: {list}");
    assert_eq!(list[0]["name"], "To B");
    // The same master key still unwraps the stored secret: a sync gets past reading it.
    let event = api.sync(created["connection"]["id"].as_str().unwrap()).await;
    assert_eq!(event["status"], "success", "{event}");
}

#[tokio::test]
async fn two_serves_sharing_a_directory_complete_one_sync() {
    let temp = tempfile::tempdir().unwrap();
    let exchange = temp.path().join("exchange");
    let a = start(options(&temp.path().join("a")).with_store("OUTBOX", &exchange)).await;
    let b = start(options(&temp.path().join("b")).with_store("INBOX", &exchange)).await;
    let (api_a, api_b) = (Api::new(&a), Api::new(&b));

    let s = secret();
    let (status, created) = api_a
        .post(
            "/api/v1/connections/sending",
            json!({"name": "To B", "description": "", "outbox": "OUTBOX", "shared_id": "a-to-b", "secret": s,
                   "secret_confirmation": s, "permitted_level": null, "permitted_tags": [], "certified": true}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let sending_id = created["connection"]["id"].as_str().unwrap().to_owned();
    let credentials = &created["credentials"];
    let (status, received) = api_b
        .post(
            "/api/v1/connections/receiving",
            json!({"name": "From A", "description": "", "inbox": "INBOX",
                   "shared_id": credentials["shared_id"], "secret": credentials["shared_secret"]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{received}");
    let receiving_id = received["connection"]["id"].as_str().unwrap().to_owned();

    let content = b"quick start: one file through a shared directory\n".to_vec();
    let (status, file) = api_a.upload("/api/v1/files?name=hello.txt&level=UNCLASSIFIED", content.clone()).await;
    assert_eq!(status, StatusCode::CREATED, "{file}");
    let (status, shared) = api_a
        .post(
            &format!("/api/v1/files/{}/shares", file["id"].as_str().unwrap()),
            json!({"connection_id": sending_id, "certified": true}),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{shared}");

    let sent = api_a.sync(&sending_id).await;
    assert_eq!(sent["status"], "success", "{sent}");
    let got = api_b.sync(&receiving_id).await;
    assert_eq!((got["status"].as_str(), got["updated"].as_u64()), (Some("success"), Some(1)), "{got}");
    let (_, files) = api_b.get("/api/v1/files").await;
    let arrived = files.as_array().unwrap().iter().find(|f| f["name"] == "hello.txt").expect("the file arrived at B");
    assert_eq!(arrived["origin_connection_id"], receiving_id.as_str());
    let (status, bytes) = api_b.bytes(&format!("/api/v1/files/{}/content", arrived["id"].as_str().unwrap())).await;
    assert_eq!((status, bytes), (StatusCode::OK, content));
}
