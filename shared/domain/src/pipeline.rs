//! Messages that chain the functions. Every message of one sync carries its `sync_id`; the
//! bus envelope carries the W3C `traceparent` beside it.

use crate::manifest::ManifestEntry;
use crate::registry::{ConnectionKind, Health};
use crate::Millis;
use serde::{Deserialize, Serialize};

/// scheduler → outbox-publisher
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublishRequest {
    pub sync_id: String,
    pub connection_id: String,
}

/// scheduler (or an object-store event) → manifest-validator
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PollRequest {
    pub sync_id: String,
    pub connection_id: String,
}

/// manifest-validator → inbox-ingester, one per new, changed or removed resource.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IngestRequest {
    pub sync_id: String,
    pub connection_id: String,
    pub shard: u32,
    pub sequence: u64,
    pub change: Change,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Change {
    Upsert { entry: ManifestEntry },
    Remove { resource_id: String },
}

impl Change {
    pub fn resource_id(&self) -> &str {
        match self {
            Self::Upsert { entry } => &entry.resource_id,
            Self::Remove { resource_id } => resource_id,
        }
    }
}

/// every stage → status-recorder
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusReport {
    pub sync_id: String,
    pub connection_id: String,
    pub kind: ConnectionKind,
    pub at: Millis,
    pub event: StatusEvent,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum StatusEvent {
    /// A stage finished its own part. `pending` is how many resource rows other stages
    /// will still report for this sync (the ingests a validator emitted).
    StageFinished { failed: bool, message: String, pending: u32, resources: Vec<ResourceRow> },
    /// One resource's outcome, reported by a stage that handles resources one by one.
    Resource { row: ResourceRow },
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResourceRow {
    pub resource_id: String,
    pub name: String,
    pub outcome: ResourceOutcome,
    pub message: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResourceOutcome {
    /// New or changed content or metadata moved.
    Updated,
    /// Nothing to move.
    Unchanged,
    /// Withdrawn from the connection (ineligible, unshared, or removed by the partner).
    Removed,
    Failed,
}

impl ResourceOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Updated => "updated",
            Self::Unchanged => "unchanged",
            Self::Removed => "removed",
            Self::Failed => "failed",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "updated" => Some(Self::Updated),
            "unchanged" => Some(Self::Unchanged),
            "removed" => Some(Self::Removed),
            "failed" => Some(Self::Failed),
            _ => None,
        }
    }

    /// Whether the row counts as "with updates" in the sync history.
    pub fn is_update(self) -> bool {
        matches!(self, Self::Updated | Self::Removed)
    }
}

/// The health a finished sync gives its connection: a failed stage fails it, a failed
/// resource degrades it.
pub fn fold_health(stage_failed: bool, rows: &[ResourceRow]) -> Health {
    if stage_failed {
        Health::Failure
    } else if rows.iter().any(|r| r.outcome == ResourceOutcome::Failed) {
        Health::Degraded
    } else {
        Health::Success
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(outcome: ResourceOutcome) -> ResourceRow {
        ResourceRow { resource_id: "r".into(), name: "n".into(), outcome, message: String::new() }
    }

    #[test]
    fn health_folds_failure_over_degraded_over_success() {
        assert_eq!(fold_health(false, &[row(ResourceOutcome::Updated)]), Health::Success);
        assert_eq!(
            fold_health(false, &[row(ResourceOutcome::Updated), row(ResourceOutcome::Failed)]),
            Health::Degraded
        );
        assert_eq!(fold_health(true, &[]), Health::Failure);
    }

    #[test]
    fn messages_round_trip_as_json() {
        let report = StatusReport {
            sync_id: "s".into(),
            connection_id: "c".into(),
            kind: ConnectionKind::Receiving,
            at: 1,
            event: StatusEvent::Resource { row: row(ResourceOutcome::Removed) },
        };
        let json = serde_json::to_string(&report).unwrap();
        assert_eq!(serde_json::from_str::<StatusReport>(&json).unwrap(), report);
    }
}
