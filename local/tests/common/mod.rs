//! What the serve and doctor tests share: an HTTP client for a served api and a started
//! data directory.

#![allow(dead_code)]

use airlock_local::serve::{self, ServeOptions, Served};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::path::Path;
use std::time::Duration;

pub fn options(dir: &Path) -> ServeOptions {
    ServeOptions { port: 0, ..ServeOptions::new(dir) }
}

pub async fn start(options: ServeOptions) -> Served {
    serve::start(options).await.expect("airlock serve starts")
}

pub struct Api {
    pub url: String,
    pub token: String,
    client: reqwest::Client,
}

impl Api {
    pub fn new(served: &Served) -> Self {
        Self { url: served.url.clone(), token: served.admin_token.clone(), client: reqwest::Client::new() }
    }

    /// The first admin, with the Secure Connections feature turned on as they would in
    /// Settings > Experimental Features (admin routes refuse them without it).
    pub async fn admin(served: &Served) -> Self {
        let api = Self::new(served);
        let (status, me) =
            api.send(reqwest::Method::PUT, "/api/v1/me/features", Some(json!({"secure_connections": true}))).await;
        assert_eq!(status, StatusCode::OK, "{me}");
        assert_eq!(me["secure_connections"], true, "{me}");
        api
    }

    /// The same api, called with another token.
    pub fn with_token(mut self, token: &str) -> Self {
        self.token = token.into();
        self
    }

    pub async fn send(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let mut request = self.client.request(method, format!("{}{path}", self.url)).bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("the api answers");
        let status = response.status();
        let text = response.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
    }

    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.send(reqwest::Method::GET, path, None).await
    }

    pub async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.send(reqwest::Method::POST, path, Some(body)).await
    }

    /// POST with raw bytes (file uploads).
    pub async fn upload(&self, path: &str, bytes: Vec<u8>) -> (StatusCode, Value) {
        let response = self
            .client
            .post(format!("{}{path}", self.url))
            .bearer_auth(&self.token)
            .body(bytes)
            .send()
            .await
            .expect("the api answers");
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    pub async fn bytes(&self, path: &str) -> (StatusCode, Vec<u8>) {
        let response =
            self.client.get(format!("{}{path}", self.url)).bearer_auth(&self.token).send().await.expect("answers");
        (response.status(), response.bytes().await.unwrap().to_vec())
    }

    /// Creates the sending connection "To B" on OUTBOX with a fresh strong secret; returns the
    /// 201 body (connection and credentials).
    pub async fn create_sending_to_b(&self) -> Value {
        let s = secret();
        let (status, created) = self
            .post(
                "/api/v1/connections/sending",
                json!({"name": "To B", "description": "", "outbox": "OUTBOX", "shared_id": "a-to-b", "secret": s,
                       "secret_confirmation": s, "permitted_level": null, "permitted_tags": [], "certified": true}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{created}");
        created
    }

    /// Starts a sync of the connection and waits for it to finish; returns its event.
    pub async fn sync(&self, connection_id: &str) -> Value {
        let (status, started) = self.post(&format!("/api/v1/connections/{connection_id}/sync"), json!({})).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{started}");
        let sync_id = started["sync_id"].as_str().unwrap().to_owned();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            let (_, page) = self.get(&format!("/api/v1/connections/{connection_id}/sync-events")).await;
            let event = page["events"].as_array().and_then(|e| e.iter().find(|e| e["sync_id"] == sync_id.as_str()));
            if let Some(event) = event.filter(|e| e["status"] != "running") {
                return event.clone();
            }
            assert!(tokio::time::Instant::now() < deadline, "sync {sync_id} did not finish: {page}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

pub fn secret() -> String {
    airlock_local::pair::random_secret(32)
}

pub trait ServeOptionsExt {
    fn with_store(self, label: &str, dir: &Path) -> Self;
}

impl ServeOptionsExt for ServeOptions {
    fn with_store(mut self, label: &str, dir: &Path) -> Self {
        self.stores.push((label.into(), dir.to_owned()));
        self
    }
}
