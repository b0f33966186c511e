//! The transform editor's API: choices per kind, validation, stored order, uncovered tags.

mod common;

use common::*;
use serde_json::{json, Value};

const SECRET: &str = "tv4qm-x7rke-2bnwz-p5hyd-c3ufa-6jsgl";

async fn sending(s: &Single) -> String {
    let body = json!({"name": "To Acme", "outbox": "OUTBOX", "shared_id": "acme", "secret": SECRET,
        "secret_confirmation": SECRET, "permitted_tags": ["ITAR", "PROJECT-X"], "certified": true});
    s.http.post("/api/v1/connections/sending", &s.admin, body).await.ok(201)["connection"]["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn receiving(s: &Single) -> String {
    let body = json!({"name": "From Acme", "inbox": "INBOX", "shared_id": "acme-1", "secret": SECRET});
    s.http.post("/api/v1/connections/receiving", &s.admin, body).await.ok(201)["connection"]["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn rule(kind: &str, predicate: Option<&str>, value: Option<&str>, description: &str) -> Value {
    json!({"kind": kind, "predicate": predicate, "value": value, "description": description})
}

#[tokio::test]
async fn sending_rules_choose_from_permitted_tags_and_keep_their_listed_order() {
    let s = single().await;
    let id = sending(&s).await;
    let path = format!("/api/v1/connections/{id}/transforms");
    let empty = s.http.get(&path, &s.admin).await.ok(200);
    assert_eq!(empty["rules"], json!([]));
    assert_eq!(empty["predicate_choices"], json!(["ITAR", "PROJECT-X"]));
    assert_eq!(empty["value_choices"], json!(["ITAR", "PROJECT-X"]));
    assert_eq!(empty["uncovered_incoming_tags"], json!([]));

    // Listed adds first: they are stored (and shown) so, and applied removes, maps, adds.
    let rules = json!({"rules": [
        rule("add", None, Some("PROJECT-X"), "every file belongs to the programme"),
        rule("map", Some("ITAR"), Some("PROJECT-X"), "the partner files ITAR under the programme"),
        rule("remove", Some("PROJECT-X"), None, "code name stays in-house"),
    ]});
    let saved = s.http.put(&path, &s.admin, rules).await.ok(200);
    let kinds: Vec<&str> = saved["rules"].as_array().unwrap().iter().map(|r| r["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["add", "map", "remove"]);
    assert_eq!(saved["rules"][1]["predicate"], json!("ITAR"));
    assert_eq!(saved["rules"][0]["predicate"], Value::Null);
    assert!(saved["rules"][0]["id"].as_str().is_some_and(|id| !id.is_empty()));
    assert_eq!(s.http.get(&path, &s.admin).await.ok(200)["rules"], saved["rules"]);
    let view = s.http.get(&format!("/api/v1/connections/{id}"), &s.admin).await.ok(200);
    assert_eq!(view["transform_count"], json!(3));

    // Ids sent back are kept, so the editor can round-trip what it was given.
    let mut round_trip = saved["rules"].clone();
    round_trip.as_array_mut().unwrap().truncate(1);
    let again = s.http.put(&path, &s.admin, json!({"rules": round_trip})).await.ok(200);
    assert_eq!(again["rules"][0]["id"], saved["rules"][0]["id"]);
}

#[tokio::test]
async fn invalid_rules_are_refused_and_change_nothing() {
    let s = single().await;
    let id = sending(&s).await;
    let path = format!("/api/v1/connections/{id}/transforms");
    let cases = [
        (
            rule("add", None, Some("ITAR"), " "),
            "transform rule 1 (add): no description; every rule must say why it exists",
        ),
        (rule("add", None, Some("EXPORT-CTRL"), "why"), "transform rule "),
        (rule("map", Some("EXPORT-CTRL"), Some("ITAR"), "why"), "transform rule "),
        (rule("add", Some("ITAR"), Some("ITAR"), "why"), "transform rule 1 (add): an add rule takes no predicate"),
        (rule("add", None, None, "why"), "transform rule 1 (add): an add rule needs a value"),
        (rule("remove", None, None, "why"), "transform rule 1 (remove): a remove rule needs a predicate"),
        (rule("remove", Some("ITAR"), Some("ITAR"), "why"), "transform rule 1 (remove): a remove rule takes no value"),
        (rule("map", Some("ITAR"), None, "why"), "transform rule 1 (map): a map rule needs a predicate and a value"),
        (rule("rename", Some("ITAR"), None, "why"), "transform rule 1: kind 'rename' is not one of add, remove, map"),
    ];
    for (bad, message) in cases {
        s.http.put(&path, &s.admin, json!({"rules": [bad]})).await.refused(400, message);
    }
    let not_permitted =
        s.http.put(&path, &s.admin, json!({"rules": [rule("add", None, Some("EXPORT-CTRL"), "why")]})).await;
    assert!(not_permitted.error().contains("value 'EXPORT-CTRL' is not one of the allowed tags (ITAR, PROJECT-X)"));
    let second_bad = json!({"rules": [rule("add", None, Some("ITAR"), "ok"), rule("remove", Some("ITAR"), None, "")]});
    s.http.put(&path, &s.admin, second_bad).await.refused(400, "transform rule 2 (remove): no description");
    s.http.put(&path, &s.admin, json!({"rules": "none"})).await.refused(400, "request body refused");
    assert_eq!(s.http.get(&path, &s.admin).await.ok(200)["rules"], json!([]));
}

#[tokio::test]
async fn receiving_rules_map_incoming_tags_to_active_local_tags() {
    let s = single().await;
    let id = receiving(&s).await;
    let path = format!("/api/v1/connections/{id}/transforms");
    // What a partner's manifest would have recorded.
    s.ctx.repo.set_incoming_tags(&id, &tags(&["ACME-ITAR", "ACME-SECRET-SAUCE"])).await.unwrap();
    s.ctx.repo.put_control_tag("RETIRED", false).await.unwrap();

    let view = s.http.get(&path, &s.admin).await.ok(200);
    assert_eq!(view["predicate_choices"], json!(["ACME-ITAR", "ACME-SECRET-SAUCE"]));
    assert_eq!(view["value_choices"], json!(["EXPORT-CTRL", "ITAR", "PROJECT-X"]), "active local tags only");
    assert_eq!(view["uncovered_incoming_tags"], json!(["ACME-ITAR", "ACME-SECRET-SAUCE"]));

    let saved = s
        .http
        .put(&path, &s.admin, json!({"rules": [rule("map", Some("ACME-ITAR"), Some("ITAR"), "their ITAR is ours")]}))
        .await
        .ok(200);
    assert_eq!(saved["uncovered_incoming_tags"], json!(["ACME-SECRET-SAUCE"]), "a warning, not a refusal");

    let foreign_predicate = json!({"rules": [rule("remove", Some("ITAR"), None, "not incoming")]});
    let reply = s.http.put(&path, &s.admin, foreign_predicate).await;
    assert_eq!(reply.status, 400);
    assert!(reply.error().contains("predicate 'ITAR' is not one of the allowed tags (ACME-ITAR, ACME-SECRET-SAUCE)"));
    let inactive_value = json!({"rules": [rule("map", Some("ACME-ITAR"), Some("RETIRED"), "old tag")]});
    let reply = s.http.put(&path, &s.admin, inactive_value).await;
    assert_eq!(reply.status, 400);
    assert!(reply.error().contains("value 'RETIRED' is not one of the allowed tags"));
}
