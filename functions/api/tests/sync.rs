//! Sync history and "sync now", after real syncs between the two platforms of the pair.

mod common;

use airlock_local::pair::{ALICE, BOB, SYNC_TIMEOUT};
use common::*;
use serde_json::{json, Value};

fn ids(page: &Value) -> Vec<String> {
    page["events"].as_array().unwrap().iter().map(|e| e["sync_id"].as_str().unwrap().to_owned()).collect()
}

#[tokio::test]
async fn sync_events_are_newest_first_paginated_and_filterable() {
    let d = duo().await;
    let spar = d.pair.upload("spar.step", "INTERNAL", &["ITAR"], b"spar bytes").await.unwrap();
    let readme = d.pair.upload("readme.txt", "PUBLIC", &[], b"hello").await.unwrap();
    d.pair.share(&spar.id).await.unwrap();
    d.pair.share(&readme.id).await.unwrap();
    let (first_a, first_b) = d.pair.sync().await.unwrap();
    let (second_a, _) = d.pair.sync().await.unwrap();
    assert_eq!((first_a.updated, second_a.updated), (2, 0), "the second sync has nothing new");

    let admin = d.api_a.mint("admin-a", &[ADMIN], HOUR);
    let base = format!("/api/v1/connections/{}/sync-events", d.pair.sending.id);
    let all = d.a.get(&base, &admin).await.ok(200);
    assert_eq!(ids(&all), [second_a.sync_id.clone(), first_a.sync_id.clone()]);
    assert_eq!(
        (all["page"].clone(), all["per_page"].clone(), all["has_more"].clone()),
        (json!(1), json!(20), json!(false))
    );
    let event = &all["events"][1];
    assert_eq!(event["status"], json!("success"));
    assert_eq!(event["updated"], json!(2));
    assert!(event["finished_at"].as_i64().unwrap() >= event["started_at"].as_i64().unwrap());
    let mut names: Vec<&str> =
        event["resources"].as_array().unwrap().iter().map(|r| r["name"].as_str().unwrap()).collect();
    names.sort();
    assert_eq!(names, ["readme.txt", "spar.step"]);
    assert_eq!(event["resources"][0]["outcome"], json!("updated"));

    let updates = d.a.get(&format!("{base}?filter=with_updates"), &admin).await.ok(200);
    assert_eq!(ids(&updates), std::slice::from_ref(&first_a.sync_id));
    let page1 = d.a.get(&format!("{base}?page=1&per_page=1"), &admin).await.ok(200);
    assert_eq!((ids(&page1), page1["has_more"].clone()), (vec![second_a.sync_id.clone()], json!(true)));
    let page2 = d.a.get(&format!("{base}?page=2&per_page=1"), &admin).await.ok(200);
    assert_eq!((ids(&page2), page2["has_more"].clone()), (vec![first_a.sync_id.clone()], json!(false)));
    let page3 = d.a.get(&format!("{base}?page=3&per_page=1"), &admin).await.ok(200);
    assert_eq!(page3["events"], json!([]));

    d.a.get(&format!("{base}?filter=some"), &admin)
        .await
        .refused(400, "filter 'some' is neither 'all' nor 'with_updates'");
    d.a.get(&format!("{base}?per_page=0"), &admin).await.refused(400, "per_page 0 is not between 1 and 100");
    d.a.get(&format!("{base}?page=0"), &admin).await.refused(400, "page 0 does not exist");
    d.a.get(&format!("{base}?page=x"), &admin).await.refused(400, "query string refused");
    d.a.get("/api/v1/connections/nope/sync-events", &admin).await.refused(404, "connection 'nope' not found");

    // B's side: the receiving history and the connection's health.
    let admin_b = d.api_b.mint(BOB, &[ADMIN], HOUR);
    let b_events = d.b.get(&format!("/api/v1/connections/{}/sync-events", d.pair.receiving.id), &admin_b).await.ok(200);
    assert_eq!(ids(&b_events).last(), Some(&first_b.sync_id));
    let view = d.b.get(&format!("/api/v1/connections/{}", d.pair.receiving.id), &admin_b).await.ok(200);
    assert_eq!(view["health"], json!("success"));
    let transforms =
        d.b.get(&format!("/api/v1/connections/{}/transforms", d.pair.receiving.id), &admin_b).await.ok(200);
    assert_eq!(transforms["predicate_choices"], json!(["ITAR"]), "incoming tags seen from A (after A's rules)");
    assert_eq!(transforms["uncovered_incoming_tags"], json!([]));
}

#[tokio::test]
async fn a_service_token_starts_a_sync_of_one_connection() {
    let d = duo().await;
    let file = d.pair.upload("part.step", "PUBLIC", &[], b"part").await.unwrap();
    d.pair.share(&file.id).await.unwrap();
    let service = d.api_a.mint("rss-scheduler", &[SERVICE], HOUR);
    let path = format!("/api/v1/connections/{}/sync", d.pair.sending.id);
    let started = d.a.post(&path, &service, json!({})).await.ok(202);
    let sync_id = started["sync_id"].as_str().unwrap();
    let event = d.pair.a.wait_for_sync(sync_id, SYNC_TIMEOUT).await.unwrap();
    assert_eq!(event.connection_id, d.pair.sending.id);
    assert_eq!(event.updated, 1);

    let admin = d.api_a.mint("admin-a", &[ADMIN], HOUR);
    let history = d.a.get(&format!("/api/v1/connections/{}/sync-events", d.pair.sending.id), &admin).await.ok(200);
    assert_eq!(ids(&history), [sync_id]);
    // An admin may too; a plain user may not; the service role opens nothing else.
    assert_eq!(d.a.post(&path, &admin, json!({})).await.status, 202);
    let user = d.api_a.mint(ALICE, &[], HOUR);
    d.a.post(&path, &user, json!({})).await.refused(403, "service role 'rss_service_user' or admin role");
    d.a.get("/api/v1/connections", &service).await.refused(403, "admin role 'airlock_admin' required");
    d.a.post("/api/v1/connections/nope/sync", &service, json!({})).await.refused(404, "connection 'nope' not found");
}

#[tokio::test]
async fn a_sync_with_many_rows_pages_them_and_a_running_one_shows_its_progress() {
    use airlock_domain::pipeline::{ResourceOutcome, ResourceRow, StatusEvent, StatusReport};
    use airlock_domain::{new_id, now_millis, ConnectionKind};
    use airlock_repo::{CopySettlement, PlannedCopy};
    let d = duo().await;
    let repo = &d.pair.a.ctx.repo;
    let admin = d.api_a.mint("admin-a", &[ADMIN], HOUR);
    let (connection_id, sync_id) = (d.pair.sending.id.clone(), new_id());
    let report = |event| StatusReport {
        sync_id: sync_id.clone(),
        connection_id: connection_id.clone(),
        kind: ConnectionKind::Sending,
        at: now_millis(),
        event,
    };
    // A running fanned-out run of 120 copies, 3 of them settled.
    repo.record_status(&report(StatusEvent::StageStarted), now_millis()).await.unwrap();
    let copy = |i: usize| PlannedCopy {
        resource_id: format!("r{i:03}"),
        name: format!("part-{i:03}.step"),
        size: 1000,
        blob_key: format!("blobs/{i}"),
        shard: 0,
        entry_json: "{}".into(),
        replaces: None,
        settled: None,
    };
    let copies: Vec<_> = (0..120).map(copy).collect();
    repo.plan_run(&sync_id, &connection_id, &copies, (false, 1), now_millis() - 2_000).await.unwrap();
    let settled: Vec<CopySettlement> = copies[..3]
        .iter()
        .map(|c| CopySettlement::Failed { resource_id: c.resource_id.clone(), why: "test".into() })
        .collect();
    repo.settle_copies(&sync_id, &settled, now_millis()).await.unwrap();
    let base = format!("/api/v1/connections/{connection_id}/sync-events");
    let page = d.a.get(&base, &admin).await.ok(200);
    let running = &page["events"][0];
    assert_eq!(running["status"], json!("running"));
    let progress = &running["progress"];
    assert_eq!((progress["files_done"].clone(), progress["files_total"].clone()), (json!(3), json!(120)), "{progress}");
    assert_eq!((progress["bytes_done"].clone(), progress["bytes_total"].clone()), (json!(3000), json!(120_000)));
    assert!(progress["files_per_second"].as_f64().unwrap() > 0.0 && progress["elapsed_ms"].as_i64().unwrap() >= 2_000);

    // It finishes with 120 rows: the history carries the first 50, the rest are paged.
    let rows: Vec<ResourceRow> = copies
        .iter()
        .map(|c| ResourceRow {
            resource_id: c.resource_id.clone(),
            name: c.name.clone(),
            outcome: ResourceOutcome::Updated,
            message: "published".into(),
        })
        .collect();
    let end = StatusEvent::StageFinished { failed: false, message: "done".into(), pending: 0, resources: rows };
    repo.record_status(&report(end), now_millis()).await.unwrap();
    let page = d.a.get(&base, &admin).await.ok(200);
    let done = &page["events"][0];
    assert_eq!(
        (done["status"].clone(), done["rows"].clone(), done["progress"].clone()),
        (json!("success"), json!(120), Value::Null)
    );
    assert_eq!(done["resources"].as_array().unwrap().len(), 50);
    let rows_path = format!("{base}/{sync_id}/rows");
    let third = d.a.get(&format!("{rows_path}?page=3&per_page=50"), &admin).await.ok(200);
    assert_eq!((third["rows"].as_array().unwrap().len(), third["has_more"].clone()), (20, json!(false)));
    assert_eq!(third["rows"][19]["name"], json!("part-119.step"));
    let all = d.a.get(&format!("{rows_path}?per_page=1000"), &admin).await.ok(200);
    assert_eq!(all["rows"].as_array().unwrap().len(), 120);
    d.a.get(&format!("{rows_path}?per_page=1001"), &admin)
        .await
        .refused(400, "per_page 1001 is not between 1 and 1000");
    d.a.get(&format!("{base}/nope/rows"), &admin)
        .await
        .refused(404, &format!("connection '{connection_id}' has no sync 'nope'"));
}

#[tokio::test]
async fn the_cli_starts_a_sync_and_follows_it_to_its_end() {
    use airlock_local::cli::sync::{run, SyncCommand};
    let d = duo().await;
    let file = d.pair.upload("part.step", "PUBLIC", &[], b"part").await.unwrap();
    d.pair.share(&file.id).await.unwrap();
    let admin = d.api_a.mint("admin-a", &[ADMIN], HOUR);
    let command = |token: &str| SyncCommand {
        url: d.a.base.clone(),
        token: token.into(),
        connection_id: d.pair.sending.id.clone(),
        wait: true,
        timeout: std::time::Duration::from_secs(60),
    };
    assert_eq!(run(command(&admin)).await.unwrap(), 0, "a successful sync exits 0");
    let history = d.a.get(&format!("/api/v1/connections/{}/sync-events", d.pair.sending.id), &admin).await.ok(200);
    assert_eq!(
        (history["events"][0]["status"].clone(), history["events"][0]["updated"].clone()),
        (json!("success"), json!(1))
    );
    let user = d.api_a.mint(ALICE, &[], HOUR);
    let refused = run(command(&user)).await.unwrap_err();
    assert!(refused.to_string().starts_with("the api refused: 403"), "{refused}");
}
