//! The routes of platform administration, `/me`, and the registry's changes to a file.

use super::{array, error, json_body, ok, path_id, query, schema, Op};
use serde_json::{json, Map, Value};

fn path_param(name: &str, what: &str) -> Value {
    json!({ "name": name, "in": "path", "required": true, "schema": { "type": "string" }, "description": what })
}

fn paging() -> [Value; 2] {
    [
        query("limit", json!({"type": "integer", "minimum": 1, "maximum": 500, "default": 50}), "entries per page"),
        query("offset", json!({"type": "integer", "minimum": 0, "default": 0}), "entries to skip"),
    ]
}

pub fn paths() -> Map<String, Value> {
    let bad = || error("bad input; nothing was changed");
    let conflict =
        || error("clashes with what exists (a taken name, something that depends on it); nothing was changed");
    let platform = || ok("the platform", schema("Platform"));
    let body = |required: &[&str], properties: Value| {
        json_body(json!({ "type": "object", "required": required, "properties": properties }))
    };
    let [limit, offset] = paging();
    let file = || path_id("file id");
    let paths = json!({
        "/api/v1/me": { "get": Op::new("the caller: roles, clearance, feature flag (the account is made on first sign-in)", "signed-in")
            .answer("200", ok("the caller", schema("Me"))).build() },
        "/api/v1/me/features": { "put": Op::new("switch the caller's own Secure Connections feature flag", "signed-in")
            .body(body(&["secure_connections"], json!({ "secure_connections": { "type": "boolean" } })))
            .answer("200", ok("the caller", schema("Me"))).answer("400", bad()).build() },
        "/api/v1/platform/infosec": { "put": Op::new("switch classification on or off", "admin")
            .body(body(&["enabled"], json!({ "enabled": { "type": "boolean" } })))
            .answer("200", platform()).answer("400", bad()).build() },
        "/api/v1/platform/levels": { "post": Op::new("add a level", "admin")
            .body(body(&["name", "order"], json!({ "name": { "type": "string" }, "order": { "type": "integer" } })))
            .answer("201", platform()).answer("400", bad()).answer("409", conflict()).build() },
        "/api/v1/platform/levels/{name}": { "patch": Op::new("rename a level everywhere, or change its order while nothing holds it", "admin")
            .param(path_param("name", "the level's name"))
            .body(body(&[], json!({ "name": { "type": "string" }, "order": { "type": "integer" } })))
            .answer("200", platform()).answer("400", bad()).answer("404", error("no such level"))
            .answer("409", conflict()).build() },
        "/api/v1/platform/max-level": { "put": Op::new("set the platform's max level (refused while users or files lie above it)", "admin")
            .body(body(&["name"], json!({ "name": { "type": "string" } })))
            .answer("200", platform()).answer("400", bad()).answer("409", conflict()).build() },
        "/api/v1/platform/tags": { "post": Op::new("add an active control tag", "admin")
            .body(body(&["tag"], json!({ "tag": { "type": "string" } })))
            .answer("201", platform()).answer("400", bad()).answer("409", conflict()).build() },
        "/api/v1/platform/tags/{tag}": { "patch": Op::new("deactivate a tag (its files leave sending connections, the reason recorded) or reactivate it", "admin")
            .param(path_param("tag", "the control tag"))
            .body(body(&["active"], json!({ "active": { "type": "boolean" } })))
            .answer("200", platform()).answer("400", bad()).answer("404", error("no such tag")).build() },
        "/api/v1/platform/users": { "get": Op::new("registry users with clearance and flag, by name, paged", "admin")
            .param(query("search", json!({"type": "string"}), "text in the id, name or email, any case"))
            .param(limit.clone()).param(offset.clone())
            .answer("200", ok("one page", schema("UsersPage"))).answer("400", bad()).build() },
        "/api/v1/platform/users/{id}": { "patch": Op::new("set a user's clearance and/or feature flag", "admin")
            .param(path_param("id", "the user's id (token subject)"))
            .body(body(&[], json!({
                "clearance": { "type": "object", "required": ["level"], "properties": { "level": { "type": "string" }, "tags": array(json!({"type": "string"})) } },
                "secure_connections": { "type": "boolean" },
            })))
            .answer("200", ok("the user", schema("UserView"))).answer("400", bad()).answer("404", error("no such user")).build() },
        "/api/v1/platform/audit": { "get": Op::new("the audit log of changes, newest first", "admin")
            .param(limit).param(offset)
            .answer("200", ok("one page", schema("AuditPage"))).answer("400", bad()).build() },
        "/api/v1/files/{id}": { "patch": Op::new("change a file's level and/or tags (owner, within their clearance, active tags)", "user")
            .param(file())
            .body(body(&[], json!({ "level": { "type": "string" }, "tags": array(json!({"type": "string"})) })))
            .answer("200", ok("the file", schema("FileView"))).answer("400", bad()).answer("404", error("no such file")).build() },
        "/api/v1/files/{id}/revisions": {
            "post": Op::new("upload a new revision (owner; the body is its bytes, streamed)", "user").param(file())
                .body(json!({"required": true, "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}}))
                .answer("201", ok("the file", schema("FileView"))).answer("404", error("no such file")).build(),
            "get": Op::new("revisions of a visible file, newest first", "user").param(file())
                .answer("200", ok("revisions", array(schema("Revision")))).build(),
        },
        "/api/v1/files/{id}/shares/{connection_id}": { "delete": Op::new("withdraw a file from a sending connection (owner); it leaves the next manifest", "user")
            .param(file()).param(path_param("connection_id", "the sending connection"))
            .answer("204", json!({"description": "withdrawn"})).answer("404", error("no such file, or not shared there")).build() },
    });
    let Value::Object(mut map) = paths else { unreachable!("json! of an object is an object") };
    // Beside the POST of the same path in the main table; `document` merges the two.
    map.insert(
        "/api/v1/files/{id}/shares".into(),
        json!({ "get": Op::new("active shares of a file the caller owns", "user")
            .param(file())
            .answer("200", ok("shares", array(schema("Share"))))
            .answer("404", error("no such file"))
            .build() }),
    );
    map
}
