//! `airlock sync`: starts a sync of one connection through a running api and follows it to
//! its end, with a progress bar while it moves files.

use crate::progress::{Bar, Progress};
use anyhow::{anyhow, bail, Context as _};
use serde_json::Value;
use std::time::{Duration, Instant};

/// How often the command looks at the sync's event.
const POLL: Duration = Duration::from_millis(500);

pub struct SyncCommand {
    pub url: String,
    pub token: String,
    pub connection_id: String,
    pub wait: bool,
    pub timeout: Duration,
}

/// Returns the exit code: 0 success, 2 degraded (some files failed), 1 failure.
pub async fn run(command: SyncCommand) -> anyhow::Result<i32> {
    let client = reqwest::Client::new();
    let base = command.url.trim_end_matches('/');
    let connection = &command.connection_id;
    let started = client
        .post(format!("{base}/api/v1/connections/{connection}/sync"))
        .bearer_auth(&command.token)
        .json(&serde_json::json!({}))
        .send()
        .await
        .with_context(|| format!("reaching the api at {base}"))?;
    let started = answer(started).await?;
    let sync_id = started["sync_id"].as_str().ok_or_else(|| anyhow!("the api answered no sync_id: {started}"))?;
    println!("sync {sync_id} of connection {connection} started");
    if !command.wait {
        return Ok(0);
    }
    let deadline = Instant::now() + command.timeout;
    let mut bar: Option<Bar> = None;
    loop {
        let page = client
            .get(format!("{base}/api/v1/connections/{connection}/sync-events?per_page=20"))
            .bearer_auth(&command.token)
            .send()
            .await
            .with_context(|| format!("reaching the api at {base}"))?;
        let page = answer(page).await?;
        let event = page["events"].as_array().and_then(|events| events.iter().find(|e| e["sync_id"] == sync_id));
        if let Some(event) = event {
            let status = event["status"].as_str().unwrap_or("running");
            if status != "running" {
                if let Some(bar) = bar {
                    bar.finish();
                }
                println!(
                    "sync {sync_id}: {status}, {} file(s) updated, {} failed: {}",
                    event["updated"],
                    event["failed"],
                    event["message"].as_str().unwrap_or_default()
                );
                return Ok(match status {
                    "success" => 0,
                    "degraded" => 2,
                    _ => 1,
                });
            }
            if let Some(progress) = progress_of(&event["progress"]) {
                bar.get_or_insert_with(|| Bar::new("sync")).draw(&progress);
            }
        }
        if Instant::now() >= deadline {
            bail!("sync {sync_id} still running after {} s", command.timeout.as_secs());
        }
        tokio::time::sleep(POLL).await;
    }
}

fn progress_of(p: &Value) -> Option<Progress> {
    Some(Progress {
        files_done: p["files_done"].as_u64()?,
        files_total: p["files_total"].as_u64()?,
        bytes_done: p["bytes_done"].as_u64()?,
        bytes_total: p["bytes_total"].as_u64()?,
        elapsed: Duration::from_millis(p["elapsed_ms"].as_u64()?),
    })
}

/// The answer's JSON, or the api's own error message.
async fn answer(response: reqwest::Response) -> anyhow::Result<Value> {
    let status = response.status();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    if !status.is_success() {
        let message = body["error"].as_str().or(body["message"].as_str()).unwrap_or("no message");
        bail!("the api refused: {status}: {message}");
    }
    Ok(body)
}
