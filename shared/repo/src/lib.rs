//! The Repository port: everything Airlock keeps in its database, behind one trait with
//! two backends (PostgreSQL for deployments, SQLite for the embedded default), both
//! served by one SQL implementation over sqlx's `Any` driver and checked by one contract
//! suite (`contract::run_all`).

use airlock_domain::pipeline::{ResourceRow, StatusReport};
use airlock_domain::{
    Clearance, Connection, Health, Millis, PlatformSettings, Resource, Revision, TagSet, TransformRule, User,
};
use async_trait::async_trait;
use std::sync::Arc;

#[cfg(any(test, feature = "testsuite"))]
pub mod contract;
mod sql;
#[cfg(any(test, feature = "testsuite"))]
pub mod testing;

pub use sql::SqlRepository;

#[derive(Debug, thiserror::Error)]
pub enum RepoError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("database migration failed: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    #[error("{what} '{id}' not found")]
    NotFound { what: &'static str, id: String },
    #[error("{0}")]
    Conflict(String),
    #[error("stored value is corrupt: {0}")]
    Corrupt(String),
    #[error("{what} {value} is too large to store: the database holds signed 64-bit integers")]
    OutOfRange { what: &'static str, value: u64 },
    #[error("unsupported database URL '{0}': expected postgres:// or sqlite://")]
    UnsupportedUrl(String),
}

pub type Result<T> = std::result::Result<T, RepoError>;

/// A resource shared with a sending connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Share {
    pub connection_id: String,
    pub resource_id: String,
    pub shared_by: String,
    pub shared_at: Millis,
    /// Set when the share was withdrawn (automatically for ineligibility, or by a user).
    pub removed_at: Option<Millis>,
    pub removed_reason: Option<String>,
}

/// An active share with what it publishes: the resource (`None` once deleted) and its
/// current revision (`None` if it has none).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SharedSource {
    pub share: Share,
    pub resource: Option<Resource>,
    pub revision: Option<Revision>,
}

/// What a running receiving sync has to move (its files done are its event's rows).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReceiveProgress {
    pub files_total: u64,
    pub bytes_total: u64,
    /// The bytes of the files stored so far by completed batches.
    pub bytes_done: u64,
    pub started_at: Millis,
}

/// What a sending connection's publish runs left behind (see `Repository::publish_marks`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublishMarks {
    pub interrupted: bool,
    pub root_digest: Option<String>,
    pub registry_seen: i64,
}

/// The files changed since a sending connection's runs last covered them (see
/// `Repository::changed_files`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChangedFiles {
    /// Their ids, or `None` when more changed than the limit asked for.
    pub resource_ids: Option<Vec<String>>,
    /// The newest mark among all of them (0 when none): what a run covering them forgets.
    pub through: i64,
}

/// A copy a fanned-out publish run planned: the revision to encrypt into the outbox and
/// the record to write once it is there.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlannedCopy {
    pub resource_id: String,
    pub name: String,
    pub size: u64,
    pub blob_key: String,
    pub shard: u32,
    /// The manifest entry it publishes, as JSON (it names the object to write).
    pub entry_json: String,
    /// The outbox object it replaces, if any.
    pub replaces: Option<String>,
    /// `None` until settled; then done, or failed with the reason.
    pub settled: Option<std::result::Result<(), String>>,
}

/// How far a fanned-out publish run is, and what its finish needs from its plan.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RunState {
    pub planned: u64,
    pub settled: u64,
    pub planned_bytes: u64,
    pub settled_bytes: u64,
    pub started_at: Millis,
    /// What `begin_publish` gave the plan.
    pub version: i64,
    pub rebuild_all: bool,
}

impl RunState {
    pub fn is_complete(&self) -> bool {
        self.settled >= self.planned
    }
}

/// What a sending connection last published for one resource.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublishedEntry {
    pub connection_id: String,
    pub resource_id: String,
    pub revision_id: String,
    pub shard: u32,
    pub object_key: String,
    /// The manifest entry as JSON, so that a later sync can republish it unchanged.
    pub entry_json: String,
}

/// The `manifest_state` row that holds a receiving connection's signed root (the others
/// hold its shards).
pub const ROOT_STATE_SHARD: u32 = u32::MAX;

/// What a receiving connection applied of one shard: the digest of its entries object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShardState {
    pub shard: u32,
    pub digest: String,
}

/// The last manifest a receiving connection applied for one shard.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ManifestState {
    pub connection_id: String,
    pub shard: u32,
    pub sequence: u64,
    /// Hex SHA-256 of the manifest object's bytes.
    pub digest: String,
}

/// What a receiving connection has applied for one remote resource.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AppliedEntry {
    pub connection_id: String,
    pub remote_resource_id: String,
    pub shard: u32,
    /// `ManifestEntry::digest()` of the entry last applied (empty for a withdrawal).
    pub entry_digest: String,
    pub local_resource_id: String,
    /// The manifest sequence the change came from: a change from an older one loses.
    pub sequence: u64,
    /// The newest change was the resource's removal; the entry stays as a tombstone so
    /// that an older upsert finishing late cannot bring the resource back.
    pub withdrawn: bool,
}

/// What an applied change does to the local registry, written together with its entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LocalChange {
    /// The resource as it now is (its `created_at` is kept when it already exists), with the
    /// revision that becomes its current one.
    Upsert { resource: Resource, revision_id: String },
    /// The local copy is hidden from `at` on (a copy withdrawn already keeps its time).
    Withdraw { at: Millis },
}

/// One received change of a batch (see `Repository::apply_changes`): the entry and local
/// change to write if it is the newest, and the revision its download stored, if any.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReceivedChange {
    pub entry: AppliedEntry,
    pub change: LocalChange,
    pub revision: Option<Revision>,
}

/// How one copy of a fanned-out run ended (see `Repository::settle_copies`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CopySettlement {
    /// In the outbox: its record, and the object it replaces (scheduled for deletion).
    Done {
        record: PublishedEntry,
        replaces: Option<String>,
    },
    Failed {
        resource_id: String,
        why: String,
    },
}

/// How a conditional write of receiving state went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ApplyOutcome {
    /// Written: nothing newer was stored.
    Applied,
    /// The same sequence was applied already (a redelivery); nothing written.
    Current,
    /// A change from a newer sequence was applied already; nothing written.
    Superseded { by: u64 },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SyncState {
    Running,
    Finished(Health),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyncEvent {
    pub sync_id: String,
    pub connection_id: String,
    pub started_at: Millis,
    pub finished_at: Option<Millis>,
    pub state: SyncState,
    /// The stage's message (failure reason, or a summary).
    pub message: String,
    /// Whether the stage that owns the sync has reported its end.
    pub stage_finished: bool,
    pub stage_failed: bool,
    /// Resource rows still expected from later stages when the stage finished.
    pub pending: u32,
    /// Rows with an update (updated or removed).
    pub updated: u32,
    /// Resource rows recorded, and how many of them failed.
    pub rows: u32,
    pub failed: u32,
    pub resources: Vec<ResourceRow>,
}

// --- platform administration ------------------------------------------------------------

/// A registry user with what platform administration keeps about them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserAccount {
    pub user: User,
    pub email: String,
    /// The per-user Secure Connections feature flag: admin routes need it on.
    pub secure_connections: bool,
    pub created_at: Millis,
    pub last_seen_at: Millis,
}

/// Who signed in, as the token says, for `Repository::sign_in`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignIn {
    pub id: String,
    pub name: String,
    pub email: String,
    /// The clearance a user created by this sign-in starts with.
    pub initial_clearance: Clearance,
    pub at: Millis,
}

/// What `Repository::sign_in` did: the account as stored, and whether this sign-in created it
/// (decided by the database, so two first requests at once still create it once).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedIn {
    pub account: UserAccount,
    pub created: bool,
}

/// A control tag and whether it is active.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ControlTag {
    pub tag: String,
    pub active: bool,
}

/// One administrative change. `before` and `after` are JSON text, `None` when there is none.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditEntry {
    pub id: String,
    pub at: Millis,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub before: Option<String>,
    pub after: Option<String>,
}

/// One page of a longer list, with the length of the whole list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Page<T> {
    pub total: u64,
    pub items: Vec<T>,
}

/// Which rows name a level, or lie above an order: counts and up to `USAGE_EXAMPLES` names
/// of each kind, for refusals that say what depends on the level.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LevelUsage {
    pub users: u64,
    pub user_examples: Vec<String>,
    /// Files of this platform's users.
    pub files: u64,
    pub file_examples: Vec<String>,
    /// Files received through a receiving connection (their level was mapped onto this one).
    pub received: u64,
    pub received_examples: Vec<String>,
    /// Sending connections whose permitted level it is.
    pub connections: u64,
    pub connection_examples: Vec<String>,
}

pub const USAGE_EXAMPLES: usize = 3;

impl LevelUsage {
    pub fn is_empty(&self) -> bool {
        self.users + self.files + self.received + self.connections == 0
    }
}

#[async_trait]
pub trait Repository: Send + Sync + 'static {
    // --- platform -----------------------------------------------------------------
    async fn platform(&self) -> Result<PlatformSettings>;
    async fn save_platform(&self, settings: &PlatformSettings) -> Result<()>;
    /// Inserts or updates a control tag; inactive tags can't be transform values.
    async fn put_control_tag(&self, tag: &str, active: bool) -> Result<()>;
    async fn active_control_tags(&self) -> Result<TagSet>;

    // --- users ----------------------------------------------------------------------
    async fn put_user(&self, user: &User) -> Result<()>;
    async fn user(&self, id: &str) -> Result<Option<User>>;
    async fn users(&self) -> Result<Vec<User>>;

    // --- registry -------------------------------------------------------------------
    /// Inserts or replaces a resource (name, level, tags, origin, withdrawn flag).
    async fn put_resource(&self, resource: &Resource) -> Result<()>;
    async fn resource(&self, id: &str) -> Result<Option<Resource>>;
    /// These resources, in one query per hundred ids (unknown ones left out).
    async fn resources_of(&self, ids: &[String]) -> Result<Vec<Resource>>;
    /// Inserts a revision; inserting the same id again changes nothing.
    async fn add_revision(&self, revision: &Revision) -> Result<()>;
    async fn revision(&self, id: &str) -> Result<Option<Revision>>;
    /// The current revision: the one a receiving connection last applied to the resource
    /// (`apply_change`), else the newest by `created_at` (ties broken by id).
    async fn latest_revision(&self, resource_id: &str) -> Result<Option<Revision>>;
    async fn grant_view(&self, resource_id: &str, user_id: &str) -> Result<()>;
    /// Resources a user may reach before classification gating: owned by them, granted to
    /// them, or arrived through a receiving connection they own. Withdrawn ones excluded.
    async fn reachable_resources(&self, user_id: &str) -> Result<Vec<Resource>>;

    // --- connections ------------------------------------------------------------------
    async fn create_connection(&self, connection: &Connection) -> Result<()>;
    /// Updates every field but id, kind, shared_id and created_at.
    async fn update_connection(&self, connection: &Connection) -> Result<()>;
    async fn connection(&self, id: &str) -> Result<Option<Connection>>;
    async fn connections(&self, include_archived: bool) -> Result<Vec<Connection>>;
    async fn archive_connection(&self, id: &str, at: Millis) -> Result<()>;
    /// The connection's derived channel keys as wrapped under the master key, if stored.
    async fn wrapped_channel_key(&self, connection_id: &str) -> Result<Option<String>>;
    async fn set_wrapped_channel_key(&self, connection_id: &str, wrapped: &str) -> Result<()>;
    async fn set_health(&self, connection_id: &str, health: Health) -> Result<()>;
    /// Replaces the connection's rules, keeping the given order.
    async fn set_transforms(&self, connection_id: &str, rules: &[TransformRule]) -> Result<()>;
    async fn transforms(&self, connection_id: &str) -> Result<Vec<TransformRule>>;
    async fn set_owners(&self, connection_id: &str, user_ids: &[String]) -> Result<()>;
    async fn owners(&self, connection_id: &str) -> Result<Vec<String>>;

    // --- sending state ----------------------------------------------------------------
    /// Shares a resource with a sending connection; sharing again re-activates a removed share.
    async fn share(&self, connection_id: &str, resource_id: &str, shared_by: &str, at: Millis) -> Result<()>;
    /// Active (not removed) shares.
    async fn active_shares(&self, connection_id: &str) -> Result<Vec<Share>>;
    /// Every share, removed ones too, with their reasons.
    async fn all_shares(&self, connection_id: &str) -> Result<Vec<Share>>;
    /// A page of the active shares with their resources and current revisions: at most
    /// `limit` shares whose resource id comes after `after` (`""`: from the first), in
    /// resource id order, in a fixed number of queries. What a publish run reads, a page
    /// at a time, so it never holds every file's rows at once.
    async fn shared_sources_page(&self, connection_id: &str, after: &str, limit: u32) -> Result<Vec<SharedSource>>;
    /// `shared_sources` of these files only (those no longer shared left out).
    async fn shared_sources_of(&self, connection_id: &str, resource_ids: &[String]) -> Result<Vec<SharedSource>>;
    async fn remove_share(&self, connection_id: &str, resource_id: &str, reason: &str, at: Millis) -> Result<()>;
    async fn published(&self, connection_id: &str) -> Result<Vec<PublishedEntry>>;
    /// The published records whose resource id comes after `after` and, if `upto` is given,
    /// not after it, in resource id order: the records beside a page of `shared_sources_page`.
    async fn published_between(
        &self,
        connection_id: &str,
        after: &str,
        upto: Option<&str>,
    ) -> Result<Vec<PublishedEntry>>;
    /// The published records of these files (unknown ones left out).
    async fn published_of(&self, connection_id: &str, resource_ids: &[String]) -> Result<Vec<PublishedEntry>>;
    async fn put_published(&self, entry: &PublishedEntry) -> Result<()>;
    async fn delete_published(&self, connection_id: &str, resource_id: &str) -> Result<()>;
    /// Schedules outbox objects for removal at `due_at` (a key scheduled again keeps the
    /// later time).
    async fn schedule_deletions(&self, connection_id: &str, object_keys: &[String], due_at: Millis) -> Result<()>;
    /// Up to `limit` objects due by `now`, leaving out any that a published entry names again.
    async fn due_deletions(&self, connection_id: &str, now: Millis, limit: u32) -> Result<Vec<String>>;
    /// Forgets scheduled removals once done.
    async fn forget_deletions(&self, connection_id: &str, object_keys: &[String]) -> Result<()>;
    /// Atomically increments and returns the connection's manifest sequence (first call: 1).
    async fn next_manifest_sequence(&self, connection_id: &str) -> Result<u64>;
    /// Marks a publish run of the connection as started: whether records may hold what no
    /// manifest shows (a run before stopped short, or a late copy recorded a revision; then
    /// this run rebuilds every shard), and the version to end with.
    async fn begin_publish(&self, connection_id: &str) -> Result<(bool, i64)>;
    /// The manifest of the run that began at `version` is out (or nothing needed writing).
    async fn end_publish(&self, connection_id: &str, version: i64) -> Result<()>;
    /// The SHA-256 of the signed manifest the connection last wrote, if any.
    async fn published_root(&self, connection_id: &str) -> Result<Option<String>>;
    async fn set_published_root(&self, connection_id: &str, digest: &str) -> Result<()>;
    /// How many writes a publish depends on were made so far (see the 0007 migration).
    async fn registry_changes(&self) -> Result<i64>;
    /// What the connection's runs left: whether one stopped short, the manifest last
    /// written, the registry changes its last run saw. `None` before the first run.
    async fn publish_marks(&self, connection_id: &str) -> Result<Option<PublishMarks>>;
    async fn set_registry_seen(&self, connection_id: &str, seen: i64) -> Result<()>;
    /// The files marked changed for this connection (see the 0008 migration), at most
    /// `limit` of them.
    async fn changed_files(&self, connection_id: &str, limit: u32) -> Result<ChangedFiles>;
    /// Forgets the connection's marks up to `through`: a run covered them.
    async fn forget_changed_files(&self, connection_id: &str, through: i64) -> Result<()>;
    /// A record changed outside a run that holds the lease: the next run rebuilds every shard.
    async fn mark_publish_dirty(&self, connection_id: &str) -> Result<()>;
    /// Records a fanned-out run and its planned copies in one transaction, with what
    /// `begin_publish` gave its plan; a run recorded already (a redelivered plan) is kept as
    /// it is. Says whether it was new.
    async fn plan_run(
        &self,
        sync_id: &str,
        connection_id: &str,
        copies: &[PlannedCopy],
        begun: (bool, i64),
        at: Millis,
    ) -> Result<bool>;
    /// The planned copies of these resources, in one query (unknown ones left out).
    async fn planned_copies(&self, sync_id: &str, resource_ids: &[String]) -> Result<Vec<PlannedCopy>>;
    /// A run's copies by resource id: every one, or the unsettled ones.
    async fn run_copies(&self, sync_id: &str, unsettled_only: bool) -> Result<Vec<PlannedCopy>>;
    /// Settles a batch of copies in one transaction: each settles once, a later settlement
    /// changes nothing; a done copy's record is written with it (the object it replaces
    /// scheduled for deletion at `due_at` first). Returns the run's progress after them.
    async fn settle_copies(
        &self,
        sync_id: &str,
        settlements: &[CopySettlement],
        due_at: Millis,
    ) -> Result<Option<RunState>>;
    /// How far a fanned-out run is; `None` once finished (or for a run that ran inline).
    async fn run_progress(&self, sync_id: &str) -> Result<Option<RunState>>;
    /// A receiving sync's totals, recorded by its validation before the ingests go out.
    async fn start_receive_progress(&self, sync_id: &str, files: u64, bytes: u64, at: Millis) -> Result<()>;
    async fn add_received_bytes(&self, sync_id: &str, bytes: u64) -> Result<()>;
    /// How far a running receiving sync is; `None` once its event finished.
    async fn receive_progress(&self, sync_id: &str) -> Result<Option<ReceiveProgress>>;
    /// The run is finished: its copies' records go.
    async fn forget_run(&self, sync_id: &str) -> Result<()>;

    // --- receiving state --------------------------------------------------------------
    async fn manifest_state(&self, connection_id: &str, shard: u32) -> Result<Option<ManifestState>>;
    /// Moves a shard's state forward: written only when its sequence is higher than the
    /// stored one's (or it is the stored manifest again). `Superseded` names the newer one.
    async fn put_manifest_state(&self, state: &ManifestState) -> Result<ApplyOutcome>;
    /// In one transaction, forgets the connection's replay state: every shard's manifest
    /// state goes and every applied entry's sequence returns to 0 (the entries stay, so the
    /// next manifest is still diffed against what is here). For a new receiving secret: a
    /// manifest forged with the old one can no longer hold the sequences up.
    async fn reset_replay_state(&self, connection_id: &str) -> Result<()>;
    /// The shards' states of a connection (not the root's row), in one query.
    async fn shard_states(&self, connection_id: &str) -> Result<Vec<ShardState>>;
    /// The shards a receiving sync fetched: recorded as applied (each only if its sequence
    /// does not go back) when the sync's event finishes with every file arrived, dropped
    /// otherwise.
    async fn put_pending_shards(
        &self,
        sync_id: &str,
        connection_id: &str,
        sequence: u64,
        states: &[ShardState],
    ) -> Result<()>;
    /// The live applied entries (tombstones of withdrawals left out).
    async fn applied(&self, connection_id: &str) -> Result<Vec<AppliedEntry>>;
    /// The live applied entries recorded for one shard.
    async fn applied_in_shard(&self, connection_id: &str, shard: u32) -> Result<Vec<AppliedEntry>>;
    /// The applied entry of one remote resource, a tombstone too.
    async fn applied_entry(&self, connection_id: &str, remote_resource_id: &str) -> Result<Option<AppliedEntry>>;
    /// In one transaction, when `entry.sequence` is higher than the stored entry's (or
    /// there is none): stores the entry and makes the local change. Otherwise changes
    /// nothing and says why, so the newest sequence wins whatever order ingests finish in.
    async fn apply_change(&self, entry: &AppliedEntry, change: &LocalChange) -> Result<ApplyOutcome> {
        let received = ReceivedChange { entry: entry.clone(), change: change.clone(), revision: None };
        let mut outcomes = self.apply_changes(std::slice::from_ref(&received)).await?;
        Ok(outcomes.pop().expect("one outcome per change"))
    }
    /// `apply_change` for a batch, in one transaction: each change decides on its own (of
    /// two for one resource, the newer decides), and each revision a change carries is
    /// stored whatever it decides. One outcome per change, in order.
    async fn apply_changes(&self, changes: &[ReceivedChange]) -> Result<Vec<ApplyOutcome>>;
    /// The applied entries of these remote resources (tombstones too), in one query.
    async fn applied_entries(&self, connection_id: &str, remote_resource_ids: &[String]) -> Result<Vec<AppliedEntry>>;
    /// Which of these revisions are stored, in one query.
    async fn stored_revisions(&self, revision_ids: &[String]) -> Result<Vec<String>>;
    /// The tags the partner sent last, for the transform editor's predicate choices.
    async fn set_incoming_tags(&self, connection_id: &str, tags: &TagSet) -> Result<()>;
    async fn incoming_tags(&self, connection_id: &str) -> Result<TagSet>;

    // --- idempotency ------------------------------------------------------------------
    /// Whether a unit of work (the publish run of one sync, say) was already done.
    async fn is_processed(&self, key: &str) -> Result<bool>;
    /// Records a unit of work as done; recording it again changes nothing.
    async fn mark_processed(&self, key: &str, at: Millis) -> Result<()>;
    /// Takes the lease `key` for `holder` until `expires_at`, or renews it when `holder`
    /// has it already. `false` when another holder's lease has not expired by `now`.
    async fn take_lease(&self, key: &str, holder: &str, now: Millis, expires_at: Millis) -> Result<bool>;
    /// Gives the lease up, if `holder` still has it.
    async fn release_lease(&self, key: &str, holder: &str) -> Result<()>;

    // --- sync history -----------------------------------------------------------------
    /// Folds one status report, received at `now`, into its sync event (creating it on
    /// first sight) and returns the event as it now stands, without its rows (counters
    /// only: the cost of a report does not grow with its sync). Idempotent: a resource row
    /// is keyed by (sync_id, resource_id), and a repeated stage end changes nothing. When
    /// the stage has finished and every pending row has arrived, the event is finished at
    /// `now` with the health its counts give, and the connection's health is set to it.
    async fn record_status(&self, report: &StatusReport, now: Millis) -> Result<SyncEvent>;
    /// One page of a sync's resource rows, by name then id (bytewise).
    async fn sync_rows(&self, sync_id: &str, limit: u32, offset: u32) -> Result<Vec<ResourceRow>>;
    /// Finishes as failed, at `now`, every event still running that started before
    /// `started_before`, with a message naming what never reported; returns them (without
    /// rows). `deadline_secs` is named in the message.
    async fn expire_sync_events(
        &self,
        started_before: Millis,
        now: Millis,
        deadline_secs: u64,
    ) -> Result<Vec<SyncEvent>>;
    /// The event with every row.
    async fn sync_event(&self, sync_id: &str) -> Result<Option<SyncEvent>>;
    /// `sync_event` without its rows (`resources` empty): what a poll of a running sync reads.
    async fn sync_event_head(&self, sync_id: &str) -> Result<Option<SyncEvent>>;
    /// A page of `sync_events` without their rows (`resources` empty).
    async fn sync_event_heads(
        &self,
        connection_id: &str,
        with_updates_only: bool,
        limit: u32,
        offset: u32,
    ) -> Result<Vec<SyncEvent>>;
    /// Newest first, each with every row; `with_updates_only` keeps events with at least one update.
    async fn sync_events(
        &self,
        connection_id: &str,
        with_updates_only: bool,
        limit: u32,
        offset: u32,
    ) -> Result<Vec<SyncEvent>>;

    // --- platform administration --------------------------------------------------------
    /// Every control tag, active or not, in byte order.
    async fn control_tags(&self) -> Result<Vec<ControlTag>>;
    /// Creates the user on first sight (the initial clearance, the feature flag off) or
    /// refreshes their name, email and last-seen time; returns the account as stored.
    async fn sign_in(&self, sign_in: &SignIn) -> Result<SignedIn>;
    async fn user_account(&self, id: &str) -> Result<Option<UserAccount>>;
    /// Accounts whose id, name or email contains `search` (any case), by name then id in
    /// byte order, one page of them.
    async fn search_users(&self, search: &str, limit: u32, offset: u32) -> Result<Page<UserAccount>>;
    async fn set_user_clearance(&self, id: &str, clearance: &Clearance) -> Result<()>;
    async fn set_secure_connections(&self, id: &str, enabled: bool) -> Result<()>;
    /// Users, files and sending connections that name the level.
    async fn level_usage(&self, name: &str) -> Result<LevelUsage>;
    /// Users and files above the order (connections are not counted).
    async fn usage_above(&self, order: i64) -> Result<LevelUsage>;
    /// Renames a level in one transaction: the scale, the max level, users, files and
    /// sending connections. Fails with `Conflict` when `to` is already a level.
    async fn rename_level(&self, from: &str, to: &str) -> Result<()>;
    /// Withdraws every active share of a sending connection whose file carries `tag`, with
    /// the reason recorded, and returns the shares withdrawn.
    async fn remove_shares_with_tag(&self, tag: &str, reason: &str, at: Millis) -> Result<Vec<Share>>;
    /// Active shares of one file with sending connections.
    async fn resource_shares(&self, resource_id: &str) -> Result<Vec<Share>>;
    /// Every revision of a file, newest first.
    async fn revisions(&self, resource_id: &str) -> Result<Vec<Revision>>;
    /// Appends an entry to the audit log.
    async fn record_audit(&self, entry: &AuditEntry) -> Result<()>;
    /// Newest first.
    async fn audit_entries(&self, limit: u32, offset: u32) -> Result<Page<AuditEntry>>;
}

pub type DynRepository = Arc<dyn Repository>;

/// Opens the database named by a `postgres://` or `sqlite://` URL and runs the migrations.
pub async fn connect(url: &str) -> Result<DynRepository> {
    Ok(Arc::new(SqlRepository::connect(url).await?))
}

/// Clearance gating over `reachable_resources`: what a user may actually see.
pub async fn visible_resources(repo: &dyn Repository, user: &User) -> Result<Vec<Resource>> {
    Ok(repo
        .reachable_resources(&user.id)
        .await?
        .into_iter()
        .filter(|r| user.clearance.permits(&r.level, &r.tags))
        .collect())
}
