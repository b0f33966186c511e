//! Messages that chain the functions. Every message of one sync carries its `sync_id`; the
//! bus envelope carries the W3C `traceparent` beside it.

use crate::entities::{ConnectionKind, Health};
use crate::manifest::ManifestEntry;
use crate::Millis;
use serde::{Deserialize, Serialize};

/// scheduler → outbox-publisher (the plan), and outbox-publisher → outbox-publisher (the
/// copies a large run fans out, and its finish once every copy is settled).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublishRequest {
    pub sync_id: String,
    pub connection_id: String,
    /// The step of the run asked for; the scheduler's messages carry none (the plan).
    #[serde(default, skip_serializing_if = "PublishStep::is_plan")]
    pub step: PublishStep,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum PublishStep {
    /// Decide what the run copies: a few copies run inline, more fan out.
    #[default]
    Plan,
    /// Copy planned revisions into the outbox: a bounded batch of them (see `copy_batches`).
    Copy { resource_ids: Vec<String> },
    /// Every planned copy is settled: write the manifest.
    Finish,
}

impl PublishStep {
    pub fn is_plan(&self) -> bool {
        *self == Self::Plan
    }
}

/// Copies per copy message at most, and the most bytes one message copies once it holds
/// more than one.
pub const MAX_COPIES_PER_MESSAGE: usize = 64;
pub const MAX_COPY_BYTES_PER_MESSAGE: u64 = 64 << 20;

/// Groups planned copies, given as (resource id, size) in order, into the batches of one
/// copy message each: at most `MAX_COPIES_PER_MESSAGE`, and at most
/// `MAX_COPY_BYTES_PER_MESSAGE` unless one file alone is larger.
pub fn copy_batches(copies: impl IntoIterator<Item = (String, u64)>) -> Vec<Vec<String>> {
    let mut batches = Vec::new();
    let (mut batch, mut bytes) = (Vec::new(), 0u64);
    for (id, size) in copies {
        if !batch.is_empty() && (batch.len() == MAX_COPIES_PER_MESSAGE || bytes + size > MAX_COPY_BYTES_PER_MESSAGE) {
            batches.push(std::mem::take(&mut batch));
            bytes = 0;
        }
        bytes += size;
        batch.push(id);
    }
    if !batch.is_empty() {
        batches.push(batch);
    }
    batches
}

impl PublishRequest {
    /// The scheduler's ask for a publish run.
    pub fn plan(sync_id: &str, connection_id: &str) -> Self {
        Self { sync_id: sync_id.into(), connection_id: connection_id.into(), step: PublishStep::Plan }
    }

    /// Another step of the same run.
    pub fn step(&self, step: PublishStep) -> Self {
        Self { step, ..self.clone() }
    }

    /// The work key recorded once this step is done, so a redelivery finds it.
    pub fn done_key(&self) -> String {
        match &self.step {
            PublishStep::Plan => format!("publish:{}", self.sync_id),
            PublishStep::Copy { resource_ids } => format!(
                "publish:{}:copy:{}:{}",
                self.sync_id,
                resource_ids.first().map_or("", String::as_str),
                resource_ids.len()
            ),
            PublishStep::Finish => format!("publish:{}:finish", self.sync_id),
        }
    }

    /// The bus message id of this step: one of each per run and resource.
    pub fn message_id(&self) -> String {
        self.done_key()
    }

    /// Who holds the connection's publish lease for a fanned-out run: the run itself, from
    /// its plan to its finish, whichever process works on it.
    pub fn run_holder(&self) -> String {
        format!("run:{}", self.sync_id)
    }

    /// The lease that keeps a connection to one publish run at a time.
    pub fn lease_key(&self) -> String {
        format!("lease:publish:{}", self.connection_id)
    }
}

/// scheduler (or an object-store event) → manifest-validator
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PollRequest {
    pub sync_id: String,
    pub connection_id: String,
}

impl PollRequest {
    /// The lease that keeps a connection to one validation at a time.
    pub fn lease_key(&self) -> String {
        format!("lease:validate:{}", self.connection_id)
    }
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

impl IngestRequest {
    /// The file bytes the change moves (none for a removal).
    pub fn bytes(&self) -> u64 {
        match &self.change {
            Change::Upsert { entry } => entry.size,
            Change::Remove { .. } => 0,
        }
    }

    /// The bus message id: one ingest per resource per sync, so a validator's redelivered
    /// run emits duplicates the bus drops.
    pub fn message_id(&self) -> String {
        format!("ingest:{}:{}", self.sync_id, self.change.resource_id())
    }

    /// What its status report is about (see `StatusReport::message_id`).
    pub fn status_key(&self) -> String {
        format!("ingest:{}", self.change.resource_id())
    }
}

/// manifest-validator → inbox-ingester: the changes of one sync, a bounded batch of them
/// (see `IngestBatch::split`), so that a small file costs the ingester a share of one
/// message and one status report instead of one of each.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IngestBatch {
    pub requests: Vec<IngestRequest>,
}

/// Changes per ingest message at most, and the most file bytes one message carries once
/// it holds more than one change.
pub const MAX_INGESTS_PER_BATCH: usize = 64;
pub const MAX_INGEST_BYTES_PER_BATCH: u64 = 64 << 20;

impl IngestBatch {
    pub fn one(request: IngestRequest) -> Self {
        Self { requests: vec![request] }
    }

    /// The changes in batches of at most `MAX_INGESTS_PER_BATCH`, and of at most
    /// `MAX_INGEST_BYTES_PER_BATCH` unless one file alone is larger, in the order given.
    pub fn split(requests: Vec<IngestRequest>) -> Vec<Self> {
        let size = IngestRequest::bytes;
        let mut batches = Vec::new();
        let (mut batch, mut bytes) = (Vec::new(), 0u64);
        for request in requests {
            let request_bytes = size(&request);
            if !batch.is_empty()
                && (batch.len() == MAX_INGESTS_PER_BATCH || bytes + request_bytes > MAX_INGEST_BYTES_PER_BATCH)
            {
                batches.push(Self { requests: std::mem::take(&mut batch) });
                bytes = 0;
            }
            bytes += request_bytes;
            batch.push(request);
        }
        if !batch.is_empty() {
            batches.push(Self { requests: batch });
        }
        batches
    }

    /// The bus message id: one batch per first resource per sync, so a validator's
    /// redelivered run, which splits the same changes the same way, emits duplicates the
    /// bus drops.
    pub fn message_id(&self) -> String {
        match self.requests.first() {
            Some(first) => format!("ingest:{}:{}:{}", first.sync_id, first.change.resource_id(), self.requests.len()),
            None => "ingest:empty".into(),
        }
    }

    /// What its status report is about (see `StatusReport::message_id`).
    pub fn status_key(&self) -> String {
        match self.requests.first() {
            Some(first) => format!("ingest:{}:{}", first.change.resource_id(), self.requests.len()),
            None => "ingest:empty".into(),
        }
    }
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

    /// The file's name as the manifest gives it; a removal carries none.
    pub fn name(&self) -> &str {
        match self {
            Self::Upsert { entry } => &entry.name,
            Self::Remove { .. } => "",
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

impl StatusReport {
    /// The bus message id: `key` names what is reported (a stage, a resource, a batch of
    /// rows), so a retried report of the same thing is a duplicate the bus drops.
    pub fn message_id(&self, key: &str) -> String {
        format!("status:{}:{key}", self.sync_id)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum StatusEvent {
    /// A stage started its part: the event's start, even when its end comes much later.
    StageStarted,
    /// A stage finished its own part. `pending` is how many resource rows other stages
    /// will still report for this sync (the ingests a validator emitted).
    StageFinished { failed: bool, message: String, pending: u32, resources: Vec<ResourceRow> },
    /// One resource's outcome, reported by a stage that handles resources one by one.
    Resource { row: ResourceRow },
    /// A batch of a stage's own rows, sent before its `StageFinished` (which counts them
    /// as pending) when they would not fit one message.
    Rows { rows: Vec<ResourceRow> },
}

/// Rows per status message, and bytes of rows per message: well under the buses' limits
/// (NATS's 1 MiB default, SQS's 256 KiB) whatever the names and messages hold.
pub const MAX_ROWS_PER_REPORT: usize = 500;
pub const MAX_ROW_BYTES_PER_REPORT: usize = 192 * 1024;

/// Splits a stage's end into messages that each stay within the limits above: the rows in
/// batches (`Rows`), then the end counting them as pending. A small end stays one message.
pub fn split_stage_end(failed: bool, message: String, pending: u32, rows: Vec<ResourceRow>) -> Vec<StatusEvent> {
    let size = |row: &ResourceRow| row.resource_id.len() + row.name.len() + row.message.len() + 64;
    let total: usize = rows.iter().map(size).sum();
    if rows.len() <= MAX_ROWS_PER_REPORT && total <= MAX_ROW_BYTES_PER_REPORT {
        return vec![StatusEvent::StageFinished { failed, message, pending, resources: rows }];
    }
    let own = rows.len() as u32;
    let mut events = Vec::new();
    let (mut batch, mut bytes) = (Vec::new(), 0);
    for row in rows {
        let row_bytes = size(&row);
        if !batch.is_empty() && (batch.len() == MAX_ROWS_PER_REPORT || bytes + row_bytes > MAX_ROW_BYTES_PER_REPORT) {
            events.push(StatusEvent::Rows { rows: std::mem::take(&mut batch) });
            bytes = 0;
        }
        bytes += row_bytes;
        batch.push(row);
    }
    if !batch.is_empty() {
        events.push(StatusEvent::Rows { rows: batch });
    }
    events.push(StatusEvent::StageFinished { failed, message, pending: pending + own, resources: Vec::new() });
    events
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
    let failed = rows.iter().filter(|r| r.outcome == ResourceOutcome::Failed).count();
    health_from_counts(stage_failed, failed as u64)
}

/// `fold_health` from the counters a sync event keeps, without its rows.
pub fn health_from_counts(stage_failed: bool, failed_rows: u64) -> Health {
    if stage_failed {
        Health::Failure
    } else if failed_rows > 0 {
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
    fn a_large_stage_end_is_split_into_bounded_messages() {
        let rows: Vec<ResourceRow> = (0..1_234)
            .map(|i| ResourceRow {
                message: "x".repeat(if i == 7 { 150_000 } else { 10 }),
                ..row(ResourceOutcome::Updated)
            })
            .collect();
        let events = split_stage_end(false, "done".into(), 2, rows);
        let mut carried = 0;
        for event in &events[..events.len() - 1] {
            let StatusEvent::Rows { rows } = event else { panic!("rows first: {event:?}") };
            assert!(rows.len() <= MAX_ROWS_PER_REPORT);
            assert!(serde_json::to_vec(event).unwrap().len() <= 256 * 1024, "each message well under the limits");
            carried += rows.len();
        }
        assert_eq!(carried, 1_234);
        assert!(
            matches!(events.last(), Some(StatusEvent::StageFinished { pending: 1_236, resources, .. }) if resources.is_empty())
        );
        let small = split_stage_end(true, "m".into(), 0, vec![row(ResourceOutcome::Failed)]);
        assert!(
            matches!(&small[..], [StatusEvent::StageFinished { pending: 0, resources, .. }] if resources.len() == 1)
        );
    }

    #[test]
    fn ids_name_the_sync_and_what_they_carry() {
        let ingest = IngestRequest {
            sync_id: "s".into(),
            connection_id: "c".into(),
            shard: 0,
            sequence: 3,
            change: Change::Remove { resource_id: "r".into() },
        };
        assert_eq!((ingest.message_id(), ingest.status_key()), ("ingest:s:r".into(), "ingest:r".into()));
        let batch = IngestBatch::one(ingest.clone());
        assert_eq!((batch.message_id(), batch.status_key()), ("ingest:s:r:1".into(), "ingest:r:1".into()));
        let publish = PublishRequest::plan("s", "c");
        assert_eq!((publish.done_key(), publish.lease_key()), ("publish:s".into(), "lease:publish:c".into()));
        let copy = publish.step(PublishStep::Copy { resource_ids: vec!["r".into(), "q".into()] });
        assert_eq!((copy.done_key(), copy.lease_key()), ("publish:s:copy:r:2".into(), "lease:publish:c".into()));
        assert_eq!(publish.step(PublishStep::Finish).message_id(), "publish:s:finish");
        // The scheduler's messages are what they were before steps existed.
        assert_eq!(serde_json::to_string(&publish).unwrap(), r#"{"sync_id":"s","connection_id":"c"}"#);
        let back: PublishRequest = serde_json::from_str(r#"{"sync_id":"s","connection_id":"c"}"#).unwrap();
        assert_eq!(back, publish);
        let back: PublishRequest = serde_json::from_str(&serde_json::to_string(&copy).unwrap()).unwrap();
        assert_eq!(back, copy);
        let poll = PollRequest { sync_id: "s".into(), connection_id: "c".into() };
        assert_ne!(poll.lease_key(), publish.lease_key(), "a connection's two leases are apart");
    }

    #[test]
    fn copies_group_into_bounded_messages() {
        let lens = |b: Vec<Vec<String>>| b.iter().map(Vec::len).collect::<Vec<_>>();
        assert_eq!(lens(copy_batches((0..65).map(|i| (format!("r{i}"), 1)))), [64, 1]);
        let big = [("a".to_string(), 100 << 20), ("b".into(), 1), ("c".into(), 70 << 20)];
        assert_eq!(lens(copy_batches(big)), [1, 1, 1]);
    }

    #[test]
    fn ingests_split_into_bounded_batches() {
        let upsert = |i: usize, size: u64| IngestRequest {
            sync_id: "s".into(),
            connection_id: "c".into(),
            shard: 0,
            sequence: 1,
            change: Change::Upsert {
                entry: ManifestEntry {
                    resource_id: format!("r{i}"),
                    revision_id: "v".into(),
                    name: "n".into(),
                    size,
                    sha256: String::new(),
                    object_key: String::new(),
                    tags: Default::default(),
                    level: crate::InfosecLevel::new("L0", 0),
                },
            },
        };
        let sizes = |batches: &[IngestBatch]| batches.iter().map(|b| b.requests.len()).collect::<Vec<_>>();
        let small: Vec<_> = (0..130).map(|i| upsert(i, 10)).collect();
        assert_eq!(sizes(&IngestBatch::split(small)), [64, 64, 2]);
        let mixed = vec![upsert(0, 40 << 20), upsert(1, 40 << 20), upsert(2, 200 << 20), upsert(3, 1)];
        assert_eq!(sizes(&IngestBatch::split(mixed)), [1, 1, 1, 1], "bytes bound the batch, one large file alone");
        assert!(IngestBatch::split(Vec::new()).is_empty());
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
