//! The JSON shapes of README.md. None of them has a field for a shared secret: the only
//! response that carries one is built by hand in the create-sending route.

use airlock_domain::pipeline::ResourceRow;
use airlock_domain::{Clearance, Connection, InfosecLevel, Millis, Resource, Revision, RuleKind, TransformRule, User};
use airlock_repo::{AuditEntry, SyncEvent, SyncState, UserAccount};
use serde::Serialize;
use serde_json::Value;

#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct LevelView {
    pub name: String,
    pub order: i64,
}

impl From<&InfosecLevel> for LevelView {
    fn from(level: &InfosecLevel) -> Self {
        Self { name: level.name.clone(), order: level.order }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct ConnectionView {
    pub id: String,
    pub kind: &'static str,
    pub name: String,
    pub description: String,
    pub shared_id: String,
    pub store: String,
    pub permitted_level: Option<LevelView>,
    pub permitted_tags: Vec<String>,
    pub transform_count: usize,
    pub health: Option<&'static str>,
    pub archived: bool,
    pub archived_at: Option<Millis>,
    pub created_at: Millis,
    /// Other active connections of the same kind on the same store: the form warns about them.
    pub store_also_used_by: Vec<String>,
}

impl ConnectionView {
    /// `others` is every connection of the platform; the view picks those sharing its store.
    pub fn new(connection: &Connection, transform_count: usize, others: &[Connection]) -> Self {
        let mut store_also_used_by: Vec<String> = others
            .iter()
            .filter(|o| {
                o.id != connection.id
                    && o.kind == connection.kind
                    && o.is_active()
                    && o.store_label.eq_ignore_ascii_case(&connection.store_label)
            })
            .map(|o| o.name.clone())
            .collect();
        store_also_used_by.sort();
        Self {
            id: connection.id.clone(),
            kind: connection.kind.as_str(),
            name: connection.name.clone(),
            description: connection.description.clone(),
            shared_id: connection.shared_id.clone(),
            store: connection.store_label.clone(),
            permitted_level: connection.permitted_level.as_ref().map(LevelView::from),
            permitted_tags: connection.permitted_tags.iter().cloned().collect(),
            transform_count,
            health: connection.health.map(|h| h.as_str()),
            archived: !connection.is_active(),
            archived_at: connection.archived_at,
            created_at: connection.created_at,
            store_also_used_by,
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct RuleView {
    pub id: String,
    pub kind: &'static str,
    pub predicate: Option<String>,
    pub value: Option<String>,
    pub description: String,
}

impl From<&TransformRule> for RuleView {
    fn from(rule: &TransformRule) -> Self {
        let kind = match rule.kind {
            RuleKind::Add { .. } => "add",
            RuleKind::Remove { .. } => "remove",
            RuleKind::Map { .. } => "map",
        };
        Self {
            id: rule.id.clone(),
            kind,
            predicate: rule.predicate().map(String::from),
            value: rule.value().map(String::from),
            description: rule.description.clone(),
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct ResourceRowView {
    pub resource_id: String,
    pub name: String,
    pub outcome: &'static str,
    pub message: String,
}

impl From<&ResourceRow> for ResourceRowView {
    fn from(row: &ResourceRow) -> Self {
        Self {
            resource_id: row.resource_id.clone(),
            name: row.name.clone(),
            outcome: row.outcome.as_str(),
            message: row.message.clone(),
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct SyncEventView {
    pub sync_id: String,
    pub started_at: Millis,
    pub finished_at: Option<Millis>,
    pub status: &'static str,
    pub message: String,
    pub updated: u32,
    /// Every row of the sync, and how many failed; `resources` holds the first of them
    /// (the rest are paged from `…/sync-events/{sync_id}/rows`).
    pub rows: u32,
    pub failed: u32,
    pub resources: Vec<ResourceRowView>,
    /// While the sync runs, how far it is (when its stage knows its totals).
    pub progress: Option<ProgressView>,
}

impl From<&SyncEvent> for SyncEventView {
    fn from(event: &SyncEvent) -> Self {
        Self {
            sync_id: event.sync_id.clone(),
            started_at: event.started_at,
            finished_at: event.finished_at,
            status: match event.state {
                SyncState::Running => "running",
                SyncState::Finished(health) => health.as_str(),
            },
            message: event.message.clone(),
            updated: event.updated,
            rows: event.rows,
            failed: event.failed,
            resources: event.resources.iter().map(ResourceRowView::from).collect(),
            progress: None,
        }
    }
}

/// Files and bytes a running sync has moved out of its total, and its rate so far.
#[derive(Clone, Debug, Serialize)]
pub struct ProgressView {
    pub files_done: u64,
    pub files_total: u64,
    pub bytes_done: u64,
    pub bytes_total: u64,
    pub elapsed_ms: i64,
    pub files_per_second: f64,
    pub bytes_per_second: f64,
}

impl ProgressView {
    pub fn new(files: (u64, u64), bytes: (u64, u64), started_at: Millis, now: Millis) -> Self {
        let elapsed_ms = (now - started_at).max(1);
        let per_second = |n: u64| (n as f64 * 1000.0 / elapsed_ms as f64 * 10.0).round() / 10.0;
        Self {
            files_done: files.0.min(files.1),
            files_total: files.1,
            bytes_done: bytes.0.min(bytes.1),
            bytes_total: bytes.1,
            elapsed_ms,
            files_per_second: per_second(files.0),
            bytes_per_second: per_second(bytes.0),
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct FileView {
    pub id: String,
    pub name: String,
    pub level: LevelView,
    pub tags: Vec<String>,
    /// Bytes of the newest revision.
    pub size: u64,
    pub owner_id: String,
    pub origin_connection_id: Option<String>,
    pub created_at: Millis,
}

impl FileView {
    pub fn new(resource: &Resource, size: u64) -> Self {
        Self {
            id: resource.id.clone(),
            name: resource.name.clone(),
            level: LevelView::from(&resource.level),
            tags: resource.tags.iter().cloned().collect(),
            size,
            owner_id: resource.owner_id.clone(),
            origin_connection_id: resource.origin_connection_id.clone(),
            created_at: resource.created_at,
        }
    }
}

/// `{"id", "name"}`: a user, an owner, or a sharing target.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct NamedRef {
    pub id: String,
    pub name: String,
}

impl From<&User> for NamedRef {
    fn from(user: &User) -> Self {
        Self { id: user.id.clone(), name: user.name.clone() }
    }
}

#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct ClearanceView {
    pub level: LevelView,
    pub tags: Vec<String>,
}

impl From<&Clearance> for ClearanceView {
    fn from(clearance: &Clearance) -> Self {
        Self { level: LevelView::from(&clearance.level), tags: clearance.tags.iter().cloned().collect() }
    }
}

/// `GET /api/v1/me`: the caller as the platform knows them.
#[derive(Clone, Debug, Serialize)]
pub struct MeView {
    pub id: String,
    pub name: String,
    pub email: String,
    pub roles: Vec<String>,
    pub is_admin: bool,
    pub clearance: ClearanceView,
    pub secure_connections: bool,
}

/// A user in the platform administration's list.
#[derive(Clone, Debug, Serialize)]
pub struct UserView {
    pub id: String,
    pub name: String,
    pub email: String,
    pub clearance: ClearanceView,
    pub secure_connections: bool,
    pub created_at: Millis,
    pub last_seen_at: Millis,
}

impl From<&UserAccount> for UserView {
    fn from(account: &UserAccount) -> Self {
        Self {
            id: account.user.id.clone(),
            name: account.user.name.clone(),
            email: account.email.clone(),
            clearance: ClearanceView::from(&account.user.clearance),
            secure_connections: account.secure_connections,
            created_at: account.created_at,
            last_seen_at: account.last_seen_at,
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct UsersPage {
    pub total: u64,
    pub users: Vec<UserView>,
}

#[derive(Clone, Debug, Serialize)]
pub struct AuditView {
    pub id: String,
    pub at: Millis,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub before: Value,
    pub after: Value,
}

impl From<&AuditEntry> for AuditView {
    fn from(entry: &AuditEntry) -> Self {
        // Stored by this server as JSON; text that isn't (written by hand) is shown as a string.
        let parse = |text: &Option<String>| match text {
            Some(text) => serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.clone())),
            None => Value::Null,
        };
        Self {
            id: entry.id.clone(),
            at: entry.at,
            actor: entry.actor.clone(),
            action: entry.action.clone(),
            target: entry.target.clone(),
            before: parse(&entry.before),
            after: parse(&entry.after),
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct AuditPage {
    pub total: u64,
    pub entries: Vec<AuditView>,
}

#[derive(Clone, Debug, Serialize)]
pub struct RevisionView {
    pub id: String,
    pub size: u64,
    pub sha256: String,
    pub created_at: Millis,
}

impl From<&Revision> for RevisionView {
    fn from(revision: &Revision) -> Self {
        Self {
            id: revision.id.clone(),
            size: revision.size,
            sha256: revision.sha256.clone(),
            created_at: revision.created_at,
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct ShareView {
    pub connection_id: String,
    pub connection_name: String,
    pub shared_by: String,
    pub shared_at: Millis,
}
