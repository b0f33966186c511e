//! The component schemas: the JSON shapes of README.md.

use serde_json::{json, Value};

fn obj(required: &[&str], properties: Value) -> Value {
    json!({ "type": "object", "required": required, "properties": properties })
}

fn r(name: &str) -> Value {
    json!({ "$ref": format!("#/components/schemas/{name}") })
}

fn nullable(schema: Value) -> Value {
    json!({ "oneOf": [schema, { "type": "null" }] })
}

fn strings() -> Value {
    json!({ "type": "array", "items": { "type": "string" } })
}

pub fn all() -> Value {
    let millis = || json!({ "type": "integer", "description": "milliseconds since the Unix epoch" });
    let text = || json!({ "type": "string" });
    json!({
        "Error": obj(&["error"], json!({ "error": { "type": "string", "description": "what failed, why, the value" } })),
        "Level": obj(&["name", "order"], json!({ "name": text(), "order": { "type": "integer" } })),
        "NamedRef": obj(&["id", "name"], json!({ "id": text(), "name": text() })),
        "Platform": obj(&["infosec_enabled", "levels", "max_level", "control_tags", "tags", "stores"], json!({
            "infosec_enabled": { "type": "boolean" },
            "levels": { "type": "array", "items": r("Level"), "description": "ascending order" },
            "max_level": r("Level"),
            "control_tags": { "type": "array", "items": { "type": "string" }, "description": "the active tags" },
            "tags": { "type": "array", "items": obj(&["tag", "active"], json!({ "tag": text(), "active": { "type": "boolean" } })) },
            "stores": strings(),
        })),
        "Clearance": obj(&["level", "tags"], json!({ "level": r("Level"), "tags": strings() })),
        "Me": obj(&["id", "name", "email", "roles", "is_admin", "clearance", "secure_connections"], json!({
            "id": text(),
            "name": text(),
            "email": text(),
            "roles": strings(),
            "is_admin": { "type": "boolean" },
            "clearance": r("Clearance"),
            "secure_connections": { "type": "boolean", "description": "the Secure Connections feature flag; admin routes need it" },
        })),
        "UserView": obj(&["id", "name", "email", "clearance", "secure_connections", "created_at", "last_seen_at"], json!({
            "id": text(),
            "name": text(),
            "email": text(),
            "clearance": r("Clearance"),
            "secure_connections": { "type": "boolean" },
            "created_at": millis(),
            "last_seen_at": millis(),
        })),
        "UsersPage": obj(&["total", "users"], json!({ "total": { "type": "integer" }, "users": { "type": "array", "items": r("UserView") } })),
        "AuditEntry": obj(&["id", "at", "actor", "action", "target", "before", "after"], json!({
            "id": text(),
            "at": millis(),
            "actor": text(),
            "action": text(),
            "target": text(),
            "before": { "description": "the state before, any JSON value; null when there was none" },
            "after": { "description": "the state after, any JSON value; null when there is none" },
        })),
        "AuditPage": obj(&["total", "entries"], json!({ "total": { "type": "integer" }, "entries": { "type": "array", "items": r("AuditEntry") } })),
        "Revision": obj(&["id", "size", "sha256", "created_at"], json!({
            "id": text(), "size": { "type": "integer" }, "sha256": text(), "created_at": millis(),
        })),
        "Share": obj(&["connection_id", "connection_name", "shared_by", "shared_at"], json!({
            "connection_id": text(), "connection_name": text(), "shared_by": text(), "shared_at": millis(),
        })),
        "ConnectionView": obj(&["id", "kind", "name", "description", "shared_id", "store", "permitted_level",
            "permitted_tags", "transform_count", "health", "archived", "archived_at", "created_at", "store_also_used_by"], json!({
            "id": text(),
            "kind": { "type": "string", "enum": ["sending", "receiving"] },
            "name": text(),
            "description": text(),
            "shared_id": text(),
            "store": text(),
            "permitted_level": nullable(r("Level")),
            "permitted_tags": strings(),
            "transform_count": { "type": "integer" },
            "health": { "enum": ["success", "degraded", "failure", null] },
            "archived": { "type": "boolean" },
            "archived_at": nullable(millis()),
            "created_at": millis(),
            "store_also_used_by": strings(),
        })),
        "NewSending": obj(&["name", "outbox", "shared_id", "certified"], json!({
            "name": text(),
            "description": text(),
            "outbox": text(),
            "shared_id": { "type": "string", "pattern": "^[A-Za-z0-9._-]+$", "description": "a random suffix is appended" },
            "secret": { "type": "string", "description": "left out (the default): one is generated and returned once; typed: it must be strong by zxcvbn's estimate" },
            "secret_confirmation": text(),
            "permitted_level": nullable(text()),
            "permitted_tags": strings(),
            "certified": { "type": "boolean", "description": "must be true: the connection shares data with an external organization" },
        })),
        "CreatedSending": obj(&["connection", "credentials"], json!({
            "connection": r("ConnectionView"),
            "credentials": obj(&["shared_id", "shared_secret"], json!({ "shared_id": text(), "shared_secret": text() })),
        })),
        "NewReceiving": obj(&["name", "inbox", "shared_id", "secret"], json!({
            "name": text(),
            "description": text(),
            "inbox": text(),
            "shared_id": text(),
            "secret": { "type": "string", "minLength": 12 },
        })),
        "ConnectionPatch": obj(&[], json!({
            "name": text(),
            "description": text(),
            "store": text(),
            "confirm_store_change": { "type": "boolean" },
            "secret": text(),
            "secret_confirmation": text(),
            "generate_secret": { "type": "boolean", "description": "sending only: a new secret is generated and returned once, in \"credentials\"" },
            "permitted_level": nullable(text()),
            "permitted_tags": strings(),
        })),
        "RuleView": obj(&["id", "kind", "predicate", "value", "description"], json!({
            "id": text(),
            "kind": { "type": "string", "enum": ["add", "remove", "map"] },
            "predicate": nullable(text()),
            "value": nullable(text()),
            "description": text(),
        })),
        "RuleInput": obj(&["kind", "description"], json!({
            "id": text(),
            "kind": { "type": "string", "enum": ["add", "remove", "map"] },
            "predicate": nullable(text()),
            "value": nullable(text()),
            "description": { "type": "string", "minLength": 1 },
        })),
        "Transforms": obj(&["rules", "predicate_choices", "value_choices", "uncovered_incoming_tags"], json!({
            "rules": { "type": "array", "items": r("RuleView"), "description": "as stored; applied removes, then maps, then adds" },
            "predicate_choices": strings(),
            "value_choices": strings(),
            "uncovered_incoming_tags": strings(),
        })),
        "SyncEventView": obj(&["sync_id", "started_at", "finished_at", "status", "message", "updated", "rows", "failed", "resources", "progress"], json!({
            "sync_id": text(),
            "started_at": millis(),
            "finished_at": nullable(millis()),
            "status": { "type": "string", "enum": ["running", "success", "degraded", "failure"] },
            "message": text(),
            "updated": { "type": "integer" },
            "rows": { "type": "integer", "description": "every per-resource row of the sync" },
            "failed": { "type": "integer" },
            "resources": { "type": "array", "items": r("ResourceRowView"), "description": "the first 50 rows; the rest from …/rows" },
            "progress": nullable(r("ProgressView")),
        })),
        "ResourceRowView": obj(&["resource_id", "name", "outcome", "message"], json!({
            "resource_id": text(),
            "name": text(),
            "outcome": { "type": "string", "enum": ["updated", "unchanged", "removed", "failed"] },
            "message": text(),
        })),
        "ProgressView": obj(&["files_done", "files_total", "bytes_done", "bytes_total", "elapsed_ms", "files_per_second", "bytes_per_second"], json!({
            "files_done": { "type": "integer" },
            "files_total": { "type": "integer" },
            "bytes_done": { "type": "integer" },
            "bytes_total": { "type": "integer" },
            "elapsed_ms": { "type": "integer" },
            "files_per_second": { "type": "number" },
            "bytes_per_second": { "type": "number" },
        })),
        "SyncRowsPage": obj(&["page", "per_page", "has_more", "rows"], json!({
            "page": { "type": "integer" },
            "per_page": { "type": "integer" },
            "has_more": { "type": "boolean" },
            "rows": { "type": "array", "items": r("ResourceRowView") },
        })),
        "SyncEventsPage": obj(&["page", "per_page", "has_more", "events"], json!({
            "page": { "type": "integer" },
            "per_page": { "type": "integer" },
            "has_more": { "type": "boolean" },
            "events": { "type": "array", "items": r("SyncEventView") },
        })),
        "FileView": obj(&["id", "name", "level", "tags", "size", "owner_id", "origin_connection_id", "created_at"], json!({
            "id": text(),
            "name": text(),
            "level": r("Level"),
            "tags": strings(),
            "size": { "type": "integer" },
            "owner_id": text(),
            "origin_connection_id": nullable(text()),
            "created_at": millis(),
        })),
    })
}
