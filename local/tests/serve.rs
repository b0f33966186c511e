//! `airlock serve` started in-process: what an operator's first minutes need to work.

mod common;

use airlock_local::serve::{self, ServeOptions};
use common::{options, start, Api, ServeOptionsExt};
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
    assert!(page.text().await.unwrap().contains("/assets/js/main.js"), "the panel's page loads its script");

    let link = served.sign_in_url();
    assert_eq!(link, format!("{}/admin/secure-connections#token={}", served.url, served.admin_token));
    // The admin routes wait for the admin to turn the feature on, and say how.
    let (status, refusal) = api.get("/api/v1/platform").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{refusal}");
    assert!(refusal["error"].as_str().unwrap().contains("PUT /api/v1/me/features"), "{refusal}");
    let api = Api::admin(&served).await;
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
    let api = Api::admin(&first).await;
    let (_, keys) = api.get("/oauth/v2/keys").await;
    let kid = keys["keys"][0]["kid"].clone();
    let secret_file = std::fs::read_to_string(dir.join("master-secret")).unwrap();
    let created = api.create_sending_to_b().await;
    let old_token = first.admin_token.clone();
    drop(first);

    let again = start(options(&dir)).await;
    let api = Api::new(&again).with_token(&old_token);
    let (_, keys) = api.get("/oauth/v2/keys").await;
    assert_eq!(keys["keys"][0]["kid"], kid, "the issuer key is the same");
    assert_eq!(std::fs::read_to_string(dir.join("master-secret")).unwrap(), secret_file);
    let (status, list) = api.get("/api/v1/connections").await;
    assert_eq!(status, StatusCode::OK, "the old token still signs in, and the flag is kept: {list}");
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
    let (api_a, api_b) = (Api::admin(&a).await, Api::admin(&b).await);

    let created = api_a.create_sending_to_b().await;
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

const PLATFORM_FILE: &str = r#"
[infosec]
enabled = true
max = "SECRET"
levels = [{ name = "UNCLASSIFIED", order = 0 }, { name = "SECRET", order = 20 }]

[[tags]]
name = "ITAR"

[[users]]
id = "admin"
level = "SECRET"
tags = ["ITAR"]
secure_connections = true
"#;

#[tokio::test]
async fn a_platform_file_is_applied_at_start_and_a_bad_one_refuses_it() {
    let temp = tempfile::tempdir().unwrap();
    let file = temp.path().join("platform.toml");
    std::fs::write(&file, PLATFORM_FILE).unwrap();
    let dir = temp.path().join("data");
    let served = start(ServeOptions { platform_file: Some(file.clone()), ..options(&dir) }).await;
    assert!(!served.platform_file_changes.is_empty());
    // The file gave the admin the feature: no PUT /api/v1/me/features needed.
    let (status, platform) = Api::new(&served).get("/api/v1/platform").await;
    assert_eq!(status, StatusCode::OK, "{platform}");
    assert_eq!(platform["max_level"]["name"], "SECRET", "{platform}");
    assert!(platform["control_tags"].as_array().unwrap().contains(&json!("ITAR")), "{platform}");
    drop(served);
    let again = start(ServeOptions { platform_file: Some(file.clone()), ..options(&dir) }).await;
    assert_eq!(again.platform_file_changes, Vec::<String>::new(), "a second application changes nothing");

    drop(again);

    // A file that names an unknown level is refused by the platform it is applied to,
    // which it leaves as it was.
    let bad = temp.path().join("bad.toml");
    std::fs::write(&bad, PLATFORM_FILE.replace(r#"level = "SECRET""#, r#"level = "TOP""#)).unwrap();
    let err = serve::start(ServeOptions { platform_file: Some(bad), ..options(&dir) }).await.err().expect("refused");
    assert!(err.to_string().contains("users[0].level: 'TOP' is not one of the levels"), "{err}");
    let after = start(options(&dir)).await;
    assert_eq!(Api::new(&after).get("/api/v1/platform").await.1, platform, "the refused file changed nothing");

    // One that is wrong on its own is refused before anything is created.
    let twice = temp.path().join("twice.toml");
    std::fs::write(&twice, format!("{PLATFORM_FILE}\n[[tags]]\nname = \"ITAR\"\n")).unwrap();
    let fresh = temp.path().join("never-created");
    let err =
        serve::start(ServeOptions { platform_file: Some(twice), ..options(&fresh) }).await.err().expect("refused");
    assert!(err.to_string().contains("tags[1].name: 'ITAR' is listed twice"), "{err}");
    assert!(!fresh.exists(), "a refused start creates nothing");
}
