//! Test support: a PostgreSQL database made for one test run and dropped after it.

use crate::{
    AppliedEntry, ApplyOutcome, AuditEntry, ChangedFiles, ControlTag, CopySettlement, DynRepository, LevelUsage,
    ManifestState, Page, PlannedCopy, PublishMarks, PublishedEntry, ReceiveProgress, ReceivedChange, RepoError,
    Repository, RunState, ShardState, Share, SharedSource, SignIn, SignedIn, SyncEvent, UserAccount,
};
use airlock_domain::pipeline::{ResourceRow, StatusReport};
use airlock_domain::{
    Clearance, Connection, Health, Millis, PlatformSettings, Resource, Revision, TagSet, TransformRule, User,
};
use async_trait::async_trait;

type Result<T> = crate::Result<T>;
use sqlx::{AnyConnection, Connection as _, Executor};

pub const DEFAULT_TEST_SERVER: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// A fresh database on the server at `AIRLOCK_TEST_DATABASE_URL` (default: the local one
/// with trust authentication).
pub struct TestDatabase {
    pub url: String,
    server: String,
    name: String,
}

impl TestDatabase {
    pub async fn create() -> std::result::Result<Self, String> {
        sqlx::any::install_default_drivers();
        let server = std::env::var("AIRLOCK_TEST_DATABASE_URL").unwrap_or_else(|_| DEFAULT_TEST_SERVER.to_owned());
        let name = format!("airlock_test_{}", uuid::Uuid::new_v4().simple());
        let mut admin = AnyConnection::connect(&server)
            .await
            .map_err(|e| format!("connecting to the PostgreSQL test server at {server} failed: {e}"))?;
        admin
            .execute(format!("CREATE DATABASE {name}").as_str())
            .await
            .map_err(|e| format!("creating test database {name} failed: {e}"))?;
        let _ = admin.close().await;
        Ok(Self { url: with_database(&server, &name), server, name })
    }

    /// Drops the database, closing any connection still open to it.
    pub async fn drop_database(self) {
        match AnyConnection::connect(&self.server).await {
            Ok(mut admin) => {
                let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
                if let Err(e) = admin.execute(sql.as_str()).await {
                    tracing::warn!(database = %self.name, error = %e, "dropping the test database failed");
                }
                let _ = admin.close().await;
            }
            Err(e) => {
                tracing::warn!(database = %self.name, error = %e, "could not reach the server to drop the test database")
            }
        }
    }
}

/// Swaps the database name in a server URL, keeping any query string.
pub fn with_database(server_url: &str, database: &str) -> String {
    let (base, query) = match server_url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (server_url, None),
    };
    let authority_end = base.find("://").map(|i| i + 3).unwrap_or(0);
    let root = match base[authority_end..].find('/') {
        Some(slash) => &base[..authority_end + slash],
        None => base,
    };
    match query {
        Some(query) => format!("{root}/{database}?{query}"),
        None => format!("{root}/{database}"),
    }
}

/// A repository whose database is away for the next `n` status reports: each fails as a
/// connection error would, then the wrapped repository answers again. Every other call
/// goes straight through, except one chosen by `pausing`, which waits to be released.
pub struct FlakyRepository {
    inner: DynRepository,
    failures_left: std::sync::atomic::AtomicU32,
    pause: Option<std::sync::Arc<Pause>>,
    /// How often each method that can be paused was called.
    calls: std::sync::Mutex<std::collections::BTreeMap<&'static str, u32>>,
}

/// Holds the first call of one repository method until the test releases it, so the test
/// can change things while a run is in the middle of its work.
pub struct Pause {
    call: &'static str,
    armed: std::sync::atomic::AtomicBool,
    reached: tokio::sync::Semaphore,
    released: tokio::sync::Semaphore,
}

impl Pause {
    /// Resolves once the held call has arrived and waits.
    pub async fn reached(&self) {
        self.reached.acquire().await.expect("never closed").forget();
    }

    /// Lets the held call go on.
    pub fn release(&self) {
        self.released.add_permits(1);
    }

    async fn hold(&self, call: &'static str) {
        if call == self.call && self.armed.swap(false, std::sync::atomic::Ordering::SeqCst) {
            self.reached.add_permits(1);
            self.released.acquire().await.expect("never closed").forget();
        }
    }
}

impl FlakyRepository {
    pub fn new(inner: DynRepository, failures: u32) -> Self {
        Self {
            inner,
            failures_left: std::sync::atomic::AtomicU32::new(failures),
            pause: None,
            calls: Default::default(),
        }
    }

    /// Holds the first call of the method named `call` (`"shared_sources_page"`, say) until
    /// `Pause::release`.
    pub fn pausing(inner: DynRepository, call: &'static str) -> (Self, std::sync::Arc<Pause>) {
        let pause = std::sync::Arc::new(Pause {
            call,
            armed: std::sync::atomic::AtomicBool::new(true),
            reached: tokio::sync::Semaphore::new(0),
            released: tokio::sync::Semaphore::new(0),
        });
        let mut repo = Self::new(inner, 0);
        repo.pause = Some(pause.clone());
        (repo, pause)
    }

    /// How many times `call` was made (for the methods `pausing` can hold).
    pub fn calls(&self, call: &str) -> u32 {
        self.calls.lock().expect("not poisoned").get(call).copied().unwrap_or(0)
    }

    async fn hold(&self, call: &'static str) {
        *self.calls.lock().expect("not poisoned").entry(call).or_default() += 1;
        if let Some(pause) = &self.pause {
            pause.hold(call).await;
        }
    }

    pub fn failures_left(&self) -> u32 {
        self.failures_left.load(std::sync::atomic::Ordering::SeqCst)
    }

    fn fail_status_while_down(&self) -> Result<()> {
        use std::sync::atomic::Ordering;
        let down = self.failures_left.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok();
        if down {
            return Err(RepoError::Database(sqlx::Error::PoolTimedOut));
        }
        Ok(())
    }
}

#[async_trait]
impl Repository for FlakyRepository {
    async fn platform(&self) -> Result<PlatformSettings> {
        self.inner.platform().await
    }
    async fn save_platform(&self, settings: &PlatformSettings) -> Result<()> {
        self.inner.save_platform(settings).await
    }
    async fn put_control_tag(&self, tag: &str, active: bool) -> Result<()> {
        self.inner.put_control_tag(tag, active).await
    }
    async fn active_control_tags(&self) -> Result<TagSet> {
        self.inner.active_control_tags().await
    }
    async fn put_user(&self, user: &User) -> Result<()> {
        self.inner.put_user(user).await
    }
    async fn user(&self, id: &str) -> Result<Option<User>> {
        self.inner.user(id).await
    }
    async fn users(&self) -> Result<Vec<User>> {
        self.inner.users().await
    }
    async fn put_resource(&self, resource: &Resource) -> Result<()> {
        self.inner.put_resource(resource).await
    }
    async fn resources_of(&self, ids: &[String]) -> Result<Vec<Resource>> {
        self.inner.resources_of(ids).await
    }
    async fn resource(&self, id: &str) -> Result<Option<Resource>> {
        self.hold("resource").await;
        self.inner.resource(id).await
    }
    async fn add_revision(&self, revision: &Revision) -> Result<()> {
        self.inner.add_revision(revision).await
    }
    async fn revision(&self, id: &str) -> Result<Option<Revision>> {
        self.inner.revision(id).await
    }
    async fn latest_revision(&self, resource_id: &str) -> Result<Option<Revision>> {
        self.hold("latest_revision").await;
        self.inner.latest_revision(resource_id).await
    }
    async fn grant_view(&self, resource_id: &str, user_id: &str) -> Result<()> {
        self.inner.grant_view(resource_id, user_id).await
    }
    async fn reachable_resources(&self, user_id: &str) -> Result<Vec<Resource>> {
        self.inner.reachable_resources(user_id).await
    }
    async fn create_connection(&self, connection: &Connection) -> Result<()> {
        self.inner.create_connection(connection).await
    }
    async fn update_connection(&self, connection: &Connection) -> Result<()> {
        self.inner.update_connection(connection).await
    }
    async fn connection(&self, id: &str) -> Result<Option<Connection>> {
        self.hold("connection").await;
        self.inner.connection(id).await
    }
    async fn connections(&self, include_archived: bool) -> Result<Vec<Connection>> {
        self.inner.connections(include_archived).await
    }
    async fn archive_connection(&self, id: &str, at: Millis) -> Result<()> {
        self.inner.archive_connection(id, at).await
    }
    async fn set_health(&self, connection_id: &str, health: Health) -> Result<()> {
        self.inner.set_health(connection_id, health).await
    }
    async fn set_transforms(&self, connection_id: &str, rules: &[TransformRule]) -> Result<()> {
        self.inner.set_transforms(connection_id, rules).await
    }
    async fn transforms(&self, connection_id: &str) -> Result<Vec<TransformRule>> {
        self.inner.transforms(connection_id).await
    }
    async fn set_owners(&self, connection_id: &str, user_ids: &[String]) -> Result<()> {
        self.inner.set_owners(connection_id, user_ids).await
    }
    async fn owners(&self, connection_id: &str) -> Result<Vec<String>> {
        self.inner.owners(connection_id).await
    }
    async fn share(&self, connection_id: &str, resource_id: &str, shared_by: &str, at: Millis) -> Result<()> {
        self.inner.share(connection_id, resource_id, shared_by, at).await
    }
    async fn active_shares(&self, connection_id: &str) -> Result<Vec<Share>> {
        self.hold("active_shares").await;
        self.inner.active_shares(connection_id).await
    }
    async fn all_shares(&self, connection_id: &str) -> Result<Vec<Share>> {
        self.inner.all_shares(connection_id).await
    }
    async fn shared_sources_of(&self, connection_id: &str, resource_ids: &[String]) -> Result<Vec<SharedSource>> {
        self.hold("shared_sources_of").await;
        self.inner.shared_sources_of(connection_id, resource_ids).await
    }
    async fn published_of(&self, connection_id: &str, resource_ids: &[String]) -> Result<Vec<PublishedEntry>> {
        self.inner.published_of(connection_id, resource_ids).await
    }
    async fn remove_share(&self, connection_id: &str, resource_id: &str, reason: &str, at: Millis) -> Result<()> {
        self.inner.remove_share(connection_id, resource_id, reason, at).await
    }
    async fn published(&self, connection_id: &str) -> Result<Vec<PublishedEntry>> {
        self.inner.published(connection_id).await
    }
    async fn published_between(
        &self,
        connection_id: &str,
        after: &str,
        upto: Option<&str>,
    ) -> Result<Vec<PublishedEntry>> {
        self.inner.published_between(connection_id, after, upto).await
    }
    async fn shared_sources_page(&self, connection_id: &str, after: &str, limit: u32) -> Result<Vec<SharedSource>> {
        self.hold("shared_sources_page").await;
        self.inner.shared_sources_page(connection_id, after, limit).await
    }
    async fn put_published(&self, entry: &PublishedEntry) -> Result<()> {
        self.inner.put_published(entry).await
    }
    async fn delete_published(&self, connection_id: &str, resource_id: &str) -> Result<()> {
        self.inner.delete_published(connection_id, resource_id).await
    }
    async fn next_manifest_sequence(&self, connection_id: &str) -> Result<u64> {
        self.inner.next_manifest_sequence(connection_id).await
    }
    async fn manifest_state(&self, connection_id: &str, shard: u32) -> Result<Option<ManifestState>> {
        self.inner.manifest_state(connection_id, shard).await
    }
    async fn put_manifest_state(&self, state: &ManifestState) -> Result<ApplyOutcome> {
        self.inner.put_manifest_state(state).await
    }
    async fn shard_states(&self, connection_id: &str) -> Result<Vec<ShardState>> {
        self.inner.shard_states(connection_id).await
    }
    async fn begin_publish(&self, connection_id: &str) -> Result<(bool, i64)> {
        self.inner.begin_publish(connection_id).await
    }
    async fn end_publish(&self, connection_id: &str, version: i64) -> Result<()> {
        self.inner.end_publish(connection_id, version).await
    }
    async fn published_root(&self, connection_id: &str) -> Result<Option<String>> {
        self.inner.published_root(connection_id).await
    }
    async fn set_published_root(&self, connection_id: &str, digest: &str) -> Result<()> {
        self.inner.set_published_root(connection_id, digest).await
    }
    async fn registry_changes(&self) -> Result<i64> {
        self.inner.registry_changes().await
    }
    async fn publish_marks(&self, connection_id: &str) -> Result<Option<PublishMarks>> {
        self.inner.publish_marks(connection_id).await
    }
    async fn changed_files(&self, connection_id: &str, limit: u32) -> Result<ChangedFiles> {
        self.inner.changed_files(connection_id, limit).await
    }
    async fn forget_changed_files(&self, connection_id: &str, through: i64) -> Result<()> {
        self.inner.forget_changed_files(connection_id, through).await
    }
    async fn set_registry_seen(&self, connection_id: &str, seen: i64) -> Result<()> {
        self.inner.set_registry_seen(connection_id, seen).await
    }
    async fn mark_publish_dirty(&self, connection_id: &str) -> Result<()> {
        self.inner.mark_publish_dirty(connection_id).await
    }
    async fn plan_run(
        &self,
        sync_id: &str,
        connection_id: &str,
        copies: &[PlannedCopy],
        begun: (bool, i64),
        at: Millis,
    ) -> Result<bool> {
        self.inner.plan_run(sync_id, connection_id, copies, begun, at).await
    }
    async fn run_copies(&self, sync_id: &str, unsettled_only: bool) -> Result<Vec<PlannedCopy>> {
        self.inner.run_copies(sync_id, unsettled_only).await
    }
    async fn planned_copies(&self, sync_id: &str, resource_ids: &[String]) -> Result<Vec<PlannedCopy>> {
        self.inner.planned_copies(sync_id, resource_ids).await
    }
    async fn settle_copies(
        &self,
        sync_id: &str,
        settlements: &[CopySettlement],
        due_at: Millis,
    ) -> Result<Option<RunState>> {
        self.inner.settle_copies(sync_id, settlements, due_at).await
    }
    async fn run_progress(&self, sync_id: &str) -> Result<Option<RunState>> {
        self.inner.run_progress(sync_id).await
    }
    async fn start_receive_progress(&self, sync_id: &str, files: u64, bytes: u64, at: Millis) -> Result<()> {
        self.inner.start_receive_progress(sync_id, files, bytes, at).await
    }
    async fn add_received_bytes(&self, sync_id: &str, bytes: u64) -> Result<()> {
        self.inner.add_received_bytes(sync_id, bytes).await
    }
    async fn receive_progress(&self, sync_id: &str) -> Result<Option<ReceiveProgress>> {
        self.inner.receive_progress(sync_id).await
    }
    async fn forget_run(&self, sync_id: &str) -> Result<()> {
        self.inner.forget_run(sync_id).await
    }
    async fn put_pending_shards(
        &self,
        sync_id: &str,
        connection_id: &str,
        sequence: u64,
        states: &[ShardState],
    ) -> Result<()> {
        self.inner.put_pending_shards(sync_id, connection_id, sequence, states).await
    }
    async fn applied_in_shard(&self, connection_id: &str, shard: u32) -> Result<Vec<AppliedEntry>> {
        self.inner.applied_in_shard(connection_id, shard).await
    }
    async fn reset_replay_state(&self, connection_id: &str) -> Result<()> {
        self.inner.reset_replay_state(connection_id).await
    }
    async fn applied(&self, connection_id: &str) -> Result<Vec<AppliedEntry>> {
        self.inner.applied(connection_id).await
    }
    async fn applied_entry(&self, connection_id: &str, remote_resource_id: &str) -> Result<Option<AppliedEntry>> {
        self.inner.applied_entry(connection_id, remote_resource_id).await
    }
    async fn apply_changes(&self, changes: &[ReceivedChange]) -> Result<Vec<ApplyOutcome>> {
        self.inner.apply_changes(changes).await
    }
    async fn applied_entries(&self, connection_id: &str, remote_resource_ids: &[String]) -> Result<Vec<AppliedEntry>> {
        self.inner.applied_entries(connection_id, remote_resource_ids).await
    }
    async fn stored_revisions(&self, revision_ids: &[String]) -> Result<Vec<String>> {
        self.inner.stored_revisions(revision_ids).await
    }
    async fn set_incoming_tags(&self, connection_id: &str, tags: &TagSet) -> Result<()> {
        self.inner.set_incoming_tags(connection_id, tags).await
    }
    async fn incoming_tags(&self, connection_id: &str) -> Result<TagSet> {
        self.inner.incoming_tags(connection_id).await
    }
    async fn is_processed(&self, key: &str) -> Result<bool> {
        self.inner.is_processed(key).await
    }
    async fn mark_processed(&self, key: &str, at: Millis) -> Result<()> {
        self.inner.mark_processed(key, at).await
    }
    async fn take_lease(&self, key: &str, holder: &str, now: Millis, expires_at: Millis) -> Result<bool> {
        self.inner.take_lease(key, holder, now, expires_at).await
    }
    async fn release_lease(&self, key: &str, holder: &str) -> Result<()> {
        self.inner.release_lease(key, holder).await
    }
    async fn record_status(&self, report: &StatusReport, now: Millis) -> Result<SyncEvent> {
        self.fail_status_while_down()?;
        self.inner.record_status(report, now).await
    }
    async fn sync_rows(&self, sync_id: &str, limit: u32, offset: u32) -> Result<Vec<ResourceRow>> {
        self.inner.sync_rows(sync_id, limit, offset).await
    }
    async fn expire_sync_events(
        &self,
        started_before: Millis,
        now: Millis,
        deadline_secs: u64,
    ) -> Result<Vec<SyncEvent>> {
        self.inner.expire_sync_events(started_before, now, deadline_secs).await
    }
    async fn sync_event_heads(
        &self,
        connection_id: &str,
        with_updates_only: bool,
        limit: u32,
        offset: u32,
    ) -> Result<Vec<SyncEvent>> {
        self.inner.sync_event_heads(connection_id, with_updates_only, limit, offset).await
    }
    async fn sync_event_head(&self, sync_id: &str) -> Result<Option<SyncEvent>> {
        self.inner.sync_event_head(sync_id).await
    }
    async fn sync_event(&self, sync_id: &str) -> Result<Option<SyncEvent>> {
        self.inner.sync_event(sync_id).await
    }
    async fn schedule_deletions(&self, connection_id: &str, object_keys: &[String], due_at: Millis) -> Result<()> {
        self.inner.schedule_deletions(connection_id, object_keys, due_at).await
    }
    async fn due_deletions(&self, connection_id: &str, now: Millis, limit: u32) -> Result<Vec<String>> {
        self.inner.due_deletions(connection_id, now, limit).await
    }
    async fn forget_deletions(&self, connection_id: &str, object_keys: &[String]) -> Result<()> {
        self.inner.forget_deletions(connection_id, object_keys).await
    }
    async fn sync_events(
        &self,
        connection_id: &str,
        with_updates_only: bool,
        limit: u32,
        offset: u32,
    ) -> Result<Vec<SyncEvent>> {
        self.inner.sync_events(connection_id, with_updates_only, limit, offset).await
    }
    async fn control_tags(&self) -> Result<Vec<ControlTag>> {
        self.inner.control_tags().await
    }
    async fn sign_in(&self, sign_in: &SignIn) -> Result<SignedIn> {
        self.inner.sign_in(sign_in).await
    }
    async fn user_account(&self, id: &str) -> Result<Option<UserAccount>> {
        self.inner.user_account(id).await
    }
    async fn search_users(&self, search: &str, limit: u32, offset: u32) -> Result<Page<UserAccount>> {
        self.inner.search_users(search, limit, offset).await
    }
    async fn set_user_clearance(&self, id: &str, clearance: &Clearance) -> Result<()> {
        self.inner.set_user_clearance(id, clearance).await
    }
    async fn set_secure_connections(&self, id: &str, enabled: bool) -> Result<()> {
        self.inner.set_secure_connections(id, enabled).await
    }
    async fn level_usage(&self, name: &str) -> Result<LevelUsage> {
        self.inner.level_usage(name).await
    }
    async fn usage_above(&self, order: i64) -> Result<LevelUsage> {
        self.inner.usage_above(order).await
    }
    async fn rename_level(&self, from: &str, to: &str) -> Result<()> {
        self.inner.rename_level(from, to).await
    }
    async fn remove_shares_with_tag(&self, tag: &str, reason: &str, at: Millis) -> Result<Vec<Share>> {
        self.inner.remove_shares_with_tag(tag, reason, at).await
    }
    async fn resource_shares(&self, resource_id: &str) -> Result<Vec<Share>> {
        self.inner.resource_shares(resource_id).await
    }
    async fn revisions(&self, resource_id: &str) -> Result<Vec<Revision>> {
        self.inner.revisions(resource_id).await
    }
    async fn record_audit(&self, entry: &AuditEntry) -> Result<()> {
        self.inner.record_audit(entry).await
    }
    async fn audit_entries(&self, limit: u32, offset: u32) -> Result<Page<AuditEntry>> {
        self.inner.audit_entries(limit, offset).await
    }
    async fn wrapped_channel_key(&self, connection_id: &str) -> Result<Option<String>> {
        self.inner.wrapped_channel_key(connection_id).await
    }
    async fn set_wrapped_channel_key(&self, connection_id: &str, wrapped: &str) -> Result<()> {
        self.inner.set_wrapped_channel_key(connection_id, wrapped).await
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn database_name_is_swapped_and_query_kept() {
        assert_eq!(super::with_database("postgres://u@h:5432/postgres", "x"), "postgres://u@h:5432/x");
        assert_eq!(
            super::with_database("postgres://u@h/postgres?sslmode=disable", "x"),
            "postgres://u@h/x?sslmode=disable"
        );
        assert_eq!(super::with_database("postgres://u@h", "x"), "postgres://u@h/x");
    }
}
