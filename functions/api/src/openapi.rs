//! The OpenAPI 3.1 description of README.md's routes, written by hand so it stays a
//! readable mirror of the contract; a test checks it names every route the router serves.

mod admin;
mod schemas;

use serde_json::{json, Map, Value};

fn schema(name: &str) -> Value {
    json!({ "$ref": format!("#/components/schemas/{name}") })
}

fn json_body(schema: Value) -> Value {
    json!({ "content": { "application/json": { "schema": schema } } })
}

fn ok(description: &str, schema: Value) -> Value {
    let mut response = json_body(schema);
    response["description"] = json!(description);
    response
}

fn error(description: &str) -> Value {
    ok(description, schema("Error"))
}

fn path_id(what: &str) -> Value {
    json!({ "name": "id", "in": "path", "required": true, "schema": { "type": "string" }, "description": what })
}

fn query(name: &str, schema: Value, description: &str) -> Value {
    json!({ "name": name, "in": "query", "required": false, "schema": schema, "description": description })
}

/// Who may call: "admin", "sync" (service or admin role), "user" (a registry user),
/// "signed-in" (any valid token), or "none".
struct Op {
    summary: &'static str,
    access: &'static str,
    parameters: Vec<Value>,
    body: Option<Value>,
    responses: Vec<(&'static str, Value)>,
}

impl Op {
    fn new(summary: &'static str, access: &'static str) -> Self {
        Self { summary, access, parameters: Vec::new(), body: None, responses: Vec::new() }
    }
    fn param(mut self, p: Value) -> Self {
        self.parameters.push(p);
        self
    }
    fn body(mut self, b: Value) -> Self {
        self.body = Some(b);
        self
    }
    fn answer(mut self, status: &'static str, r: Value) -> Self {
        self.responses.push((status, r));
        self
    }
    fn build(self) -> Value {
        let mut responses = Map::new();
        for (status, r) in self.responses {
            responses.insert(status.into(), r);
        }
        if self.access != "none" {
            responses
                .insert("401".into(), error("missing or invalid bearer token; the message names the failed check"));
            let why = match self.access {
                "admin" => "the token lacks the admin role, or the caller's Secure Connections feature flag is off",
                "signed-in" => "the token's clearance claims name no level or tag of this platform",
                "sync" => "the token lacks the service and admin roles (an admin also needs the feature flag)",
                _ => "the file is not theirs to use, or the token's clearance claims are unusable",
            };
            responses.insert("403".into(), error(why));
        }
        let mut op = json!({ "summary": self.summary, "responses": responses });
        if !self.parameters.is_empty() {
            op["parameters"] = Value::Array(self.parameters);
        }
        if let Some(body) = self.body {
            op["requestBody"] = body;
        }
        op["security"] = if self.access == "none" { json!([]) } else { json!([{ "bearer": [] }]) };
        op
    }
}

fn array(item: Value) -> Value {
    json!({ "type": "array", "items": item })
}

fn html(summary: &'static str) -> Value {
    json!({ "summary": summary, "security": [],
            "responses": { "200": { "description": "the page", "content": { "text/html": {} } } } })
}

pub fn document() -> Value {
    let id = || path_id("connection id");
    let bad = || error("bad input");
    let missing = || error("no such connection");
    let archived = || error("the connection is archived");
    let connection = || ok("the connection", schema("ConnectionView"));
    let paths = json!({
        "/healthz": { "get": Op::new("liveness", "none").answer("200", ok("up", json!({"type": "object"}))).build() },
        "/openapi.json": { "get": Op::new("this document", "none").answer("200", ok("OpenAPI 3.1", json!({"type": "object"}))).build() },
        "/.well-known/openid-configuration": { "get": Op::new("discovery document of the embedded issuer (local mode only)", "none")
            .answer("200", ok("discovery", json!({"type": "object"}))).answer("404", error("no local issuer")).build() },
        "/oauth/v2/keys": { "get": Op::new("JWKS of the embedded issuer (local mode only)", "none")
            .answer("200", ok("the key set", json!({"type": "object", "properties": {"keys": array(json!({"type": "object"}))}})))
            .answer("404", error("no local issuer")).build() },
        "/admin": { "get": html("web admin page") },
        "/admin/secure-connections": { "get": html("web admin page: connections") },
        "/admin/secure-connections/{kind}/{id}/sync-status": { "get": html("web admin page: sync status of a connection") },
        "/files": { "get": html("web page: the user's files") },
        "/admin/platform": { "get": html("web admin page: platform administration") },
        "/settings": { "get": html("web page: the user's settings and experimental features") },
        "/assets/js/main.js": { "get": { "summary": "the web page's script (an ES module importing its siblings under /assets/js/)", "security": [],
            "responses": { "200": { "description": "JavaScript", "content": { "text/javascript": {} } } } } },
        "/assets/style.css": { "get": { "summary": "the web page's stylesheet", "security": [],
            "responses": { "200": { "description": "CSS", "content": { "text/css": {} } } } } },
        "/api/v1/platform": { "get": Op::new("classification scale, tags and stores", "admin")
            .answer("200", ok("the platform", schema("Platform"))).build() },
        "/api/v1/users": { "get": Op::new("search registry users by name or id", "admin")
            .param(query("search", json!({"type": "string"}), "text contained in the name or id, case-insensitive"))
            .answer("200", ok("matching users", array(schema("NamedRef")))).build() },
        "/api/v1/connections": { "get": Op::new("connections ordered by name", "admin")
            .param(query("kind", json!({"type": "string", "enum": ["sending", "receiving"]}), "only this kind"))
            .param(query("include_archived", json!({"type": "boolean", "default": false}), "archived ones too"))
            .answer("200", ok("connections", array(schema("ConnectionView")))).answer("400", bad()).build() },
        "/api/v1/connections/sending": { "post": Op::new("create a sending connection; the only response with a shared secret", "admin")
            .body(json_body(schema("NewSending")))
            .answer("201", ok("created, with the credentials to pass to the partner", schema("CreatedSending")))
            .answer("400", bad()).build() },
        "/api/v1/connections/receiving": { "post": Op::new("create a receiving connection; the caller becomes its first owner", "admin")
            .body(json_body(schema("NewReceiving")))
            .answer("201", ok("created", json!({"type": "object", "properties": {"connection": schema("ConnectionView")}})))
            .answer("400", bad()).build() },
        "/api/v1/connections/{id}": {
            "get": Op::new("one connection", "admin").param(id()).answer("200", connection()).answer("404", missing()).build(),
            "patch": Op::new("edit a connection; a store change needs confirm_store_change, a sending secret its confirmation", "admin")
                .param(id()).body(json_body(schema("ConnectionPatch"))).answer("200", connection())
                .answer("400", bad()).answer("404", missing()).answer("409", archived()).build(),
        },
        "/api/v1/connections/{id}/archive": { "post": Op::new("archive for good", "admin").param(id())
            .body(json_body(json!({"type": "object", "required": ["confirm"], "properties": {"confirm": {"type": "boolean", "const": true}}})))
            .answer("200", connection()).answer("400", bad()).answer("404", missing()).answer("409", error("already archived")).build() },
        "/api/v1/connections/{id}/transforms": {
            "get": Op::new("transform rules and the editor's choices", "admin").param(id())
                .answer("200", ok("rules", schema("Transforms"))).answer("404", missing()).build(),
            "put": Op::new("replace the transform rules", "admin").param(id())
                .body(json_body(json!({"type": "object", "required": ["rules"], "properties": {"rules": array(schema("RuleInput"))}})))
                .answer("200", ok("rules as stored", schema("Transforms"))).answer("400", bad())
                .answer("404", missing()).answer("409", archived()).build(),
        },
        "/api/v1/connections/{id}/owners": {
            "get": Op::new("owners of a receiving connection", "admin").param(id())
                .answer("200", ok("owners", array(schema("NamedRef")))).answer("400", error("not a receiving connection"))
                .answer("404", missing()).build(),
            "put": Op::new("replace the owners of a receiving connection", "admin").param(id())
                .body(json_body(json!({"type": "object", "required": ["user_ids"], "properties": {"user_ids": array(json!({"type": "string"}))}})))
                .answer("200", ok("owners", array(schema("NamedRef")))).answer("400", bad())
                .answer("404", missing()).answer("409", archived()).build(),
        },
        "/api/v1/connections/{id}/sync-events": { "get": Op::new("sync history, newest first", "admin").param(id())
            .param(query("filter", json!({"type": "string", "enum": ["all", "with_updates"], "default": "all"}), "with_updates keeps syncs that moved something"))
            .param(query("page", json!({"type": "integer", "minimum": 1, "default": 1}), "page number"))
            .param(query("per_page", json!({"type": "integer", "minimum": 1, "maximum": 100, "default": 20}), "events per page"))
            .answer("200", ok("one page", schema("SyncEventsPage"))).answer("400", bad()).answer("404", missing()).build() },
        "/api/v1/connections/{id}/sync-events/{sync_id}/rows": { "get": Op::new("one page of a sync's per-resource rows", "admin").param(id())
            .param(json!({ "name": "sync_id", "in": "path", "required": true, "schema": { "type": "string" }, "description": "sync id" }))
            .param(query("page", json!({"type": "integer", "minimum": 1, "default": 1}), "page number"))
            .param(query("per_page", json!({"type": "integer", "minimum": 1, "maximum": 1000, "default": 50}), "rows per page"))
            .answer("200", ok("one page", schema("SyncRowsPage"))).answer("400", bad()).answer("404", error("no such connection or sync")).build() },
        "/api/v1/connections/{id}/sync": { "post": Op::new("start a sync of this connection now", "sync").param(id())
            .answer("202", ok("started", json!({"type": "object", "properties": {"sync_id": {"type": "string"}}})))
            .answer("404", missing()).answer("409", archived()).build() },
        "/api/v1/files": {
            "get": Op::new("files the caller may see", "user").answer("200", ok("files", array(schema("FileView")))).build(),
            "post": Op::new("upload a file (the body is its bytes, streamed)", "user")
                .param(json!({"name": "name", "in": "query", "required": true, "schema": {"type": "string"}}))
                .param(json!({"name": "level", "in": "query", "required": true, "schema": {"type": "string"}, "description": "a platform level by name"}))
                .param(query("tags", json!({"type": "string"}), "comma-separated control tags"))
                .body(json!({"required": true, "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}}))
                .answer("201", ok("stored", schema("FileView"))).answer("400", bad()).build(),
        },
        "/api/v1/files/{id}/content": { "get": Op::new("bytes of the newest revision", "user").param(path_id("file id"))
            .answer("200", json!({"description": "the bytes", "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}}))
            .build() },
        "/api/v1/files/{id}/shares": { "post": Op::new("share a file with a sending connection (needs certification)", "user")
            .param(path_id("file id"))
            .body(json_body(json!({"type": "object", "required": ["connection_id", "certified"],
                "properties": {"connection_id": {"type": "string"}, "certified": {"type": "boolean"}}})))
            .answer("204", json!({"description": "shared"})).answer("400", bad()).answer("404", error("no such file")).build() },
        "/api/v1/files/{id}/viewers": { "post": Op::new("reshare a file at viewer level to another user", "user")
            .param(path_id("file id"))
            .body(json_body(json!({"type": "object", "required": ["user_id"], "properties": {"user_id": {"type": "string"}}})))
            .answer("204", json!({"description": "granted"})).answer("400", bad()).build() },
        "/api/v1/sharing-targets": { "get": Op::new("active sending connections a file can be shared with", "user")
            .answer("200", ok("targets", array(schema("NamedRef")))).build() },
    });
    let mut paths = paths;
    let table = paths.as_object_mut().expect("paths is an object");
    for (path, ops) in admin::paths() {
        match (table.get_mut(&path), ops) {
            (Some(Value::Object(existing)), Value::Object(more)) => existing.extend(more),
            (_, ops) => {
                table.insert(path, ops);
            }
        }
    }
    json!({
        "openapi": "3.1.0",
        "info": { "title": "Airlock api", "version": env!("CARGO_PKG_VERSION"),
                  "description": "Admin panel and registry API of one Airlock platform. Errors are {\"error\": \"…\"}." },
        "paths": paths,
        "components": {
            "securitySchemes": { "bearer": { "type": "http", "scheme": "bearer", "bearerFormat": "JWT" } },
            "schemas": schemas::all(),
        },
    })
}
