//! The one SQL implementation of `Repository`, over sqlx's `Any` driver so that the same
//! queries serve PostgreSQL and SQLite. Queries stay within what both engines accept:
//! `$N` placeholders (sqlx's SQLite driver maps `$N` to the N-th argument), TEXT and
//! BIGINT columns, `ON CONFLICT … DO UPDATE/NOTHING` and `RETURNING`.

mod codec;
mod connections;
mod exchange;
mod platform;
mod registry;
mod runs;
mod sync;
mod writers;

use crate::{
    AppliedEntry, ApplyOutcome, AuditEntry, ChangedFiles, ControlTag, CopySettlement, LevelUsage, ManifestState, Page,
    PlannedCopy, PublishMarks, PublishedEntry, ReceiveProgress, ReceivedChange, RepoError, Repository, Result,
    RunState, ShardState, Share, SharedSource, SignIn, SignedIn, SyncEvent, UserAccount,
};
use airlock_domain::pipeline::{ResourceRow, StatusReport};
use airlock_domain::{
    Clearance, Connection, Health, Millis, PlatformSettings, Resource, Revision, TagSet, TransformRule, User,
};
use async_trait::async_trait;
use sqlx::any::AnyPoolOptions;
use sqlx::{Any, AnyConnection, AnyPool, Connection as _, Executor as _, Transaction};
use std::sync::Arc;
use std::time::{Duration, Instant};
use writers::{Turn, Writers};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations");
static OPENING_SQLITE: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// How long an SQLite writer waits for another connection's write lock before failing
/// with "database is locked". Transactions here are short, so reaching it means something
/// is stuck rather than merely busy.
const SQLITE_BUSY_TIMEOUT_MS: u64 = 30_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Backend {
    Postgres,
    Sqlite,
}

/// The repository over a PostgreSQL or SQLite database, chosen by the URL's scheme.
#[derive(Clone, Debug)]
pub struct SqlRepository {
    pool: AnyPool,
    backend: Backend,
    /// SQLite's writers of this database, who take turns (see `writers`).
    writers: Arc<Writers>,
}

/// A transaction, holding its SQLite writer's turn until it is committed or dropped.
pub(super) struct Tx {
    tx: Transaction<'static, Any>,
    _turn: Option<Turn>,
}

impl Tx {
    pub(super) async fn commit(self) -> Result<()> {
        Ok(self.tx.commit().await?)
    }
}

impl std::ops::Deref for Tx {
    type Target = AnyConnection;
    fn deref(&self) -> &AnyConnection {
        &self.tx
    }
}

impl std::ops::DerefMut for Tx {
    fn deref_mut(&mut self) -> &mut AnyConnection {
        &mut self.tx
    }
}

impl SqlRepository {
    /// Opens (and for SQLite, creates if missing) the database and brings its schema up
    /// to date.
    pub async fn connect(url: &str) -> Result<Self> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgres
        } else if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else {
            return Err(RepoError::UnsupportedUrl(url.to_owned()));
        };
        // sqlx takes no migration lock on SQLite, and switching a file to WAL can't wait
        // for other connections, so repositories opened at once on a new file (the embedded
        // default starts every function in one process) would trip over each other.
        // PostgreSQL migrations are already serialized by sqlx with an advisory lock.
        let _opening = match backend {
            Backend::Sqlite => Some(OPENING_SQLITE.lock().await),
            Backend::Postgres => None,
        };
        let pool = match backend {
            Backend::Postgres => AnyPoolOptions::new().max_connections(10).connect(url).await?,
            Backend::Sqlite => open_sqlite(url).await?,
        };
        MIGRATOR.run(&pool).await?;
        let writers = Arc::new(match backend {
            Backend::Sqlite => Writers::of(url),
            Backend::Postgres => Writers::default(),
        });
        Ok(Self { pool, backend, writers })
    }

    /// The underlying pool, for callers that need a query the trait doesn't offer.
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Closes every pooled connection; later calls fail.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// A write transaction. On SQLite the turn is taken before the connection, so a writer
    /// waiting for it holds none of the pool's.
    async fn begin(&self) -> Result<Tx> {
        Ok(match self.backend {
            // A deferred SQLite transaction that reads before it writes fails at once with
            // SQLITE_BUSY if another connection wrote in between: the busy timeout does not
            // cover that upgrade. Taking the write lock up front makes writers queue instead.
            Backend::Sqlite => {
                let turn = self.writers.turn().await.map_err(sqlx::Error::Io)?;
                Tx { tx: self.pool.begin_with("BEGIN IMMEDIATE").await?, _turn: Some(turn) }
            }
            Backend::Postgres => Tx { tx: self.pool.begin().await?, _turn: None },
        })
    }
}

fn sqlite_in_memory(url: &str) -> bool {
    url.contains(":memory:") || url.contains("mode=memory")
}

async fn open_sqlite(url: &str) -> Result<AnyPool> {
    if sqlite_in_memory(url) {
        // The Any driver parses the URL anew for each connection, and each in-memory
        // connection is a database of its own: keep exactly one, forever.
        return Ok(AnyPoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect(url)
            .await?);
    }
    let url = if url.contains("mode=") {
        url.to_owned()
    } else if url.contains('?') {
        format!("{url}&mode=rwc")
    } else {
        format!("{url}?mode=rwc")
    };
    enable_wal(&url).await?;
    Ok(AnyPoolOptions::new()
        .max_connections(8)
        .after_connect(|conn, _| {
            Box::pin(async move {
                conn.execute(format!("PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}").as_str()).await?;
                // Safe under WAL (a crash can lose the last commits, never corrupt the file)
                // and spares an fsync per commit.
                conn.execute("PRAGMA synchronous = NORMAL").await?;
                // A statement inside a transaction journals the pages it changes, so it can
                // be undone alone; kept in memory, that journal costs no file writes.
                conn.execute("PRAGMA temp_store = MEMORY").await?;
                // Pages written back from the log every 16 MiB rather than every 4: a page
                // changed many times meanwhile (an index's, most) is copied and synced once.
                conn.execute("PRAGMA wal_autocheckpoint = 4000").await?;
                Ok(())
            })
        })
        .acquire_timeout(Duration::from_millis(SQLITE_BUSY_TIMEOUT_MS))
        .connect(&url)
        .await?)
}

/// WAL lets readers proceed while one connection writes. It is stored in the database file,
/// so one connection sets it for all. Switching needs an exclusive lock that the busy
/// timeout doesn't wait for, hence the retries while another process holds the file.
async fn enable_wal(url: &str) -> Result<()> {
    let mut conn = AnyConnection::connect(url).await?;
    let deadline = Instant::now() + Duration::from_millis(SQLITE_BUSY_TIMEOUT_MS);
    let outcome = loop {
        match conn.execute("PRAGMA journal_mode = WAL").await {
            Err(sqlx::Error::Database(e)) if is_busy(e.as_ref()) && Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            other => break other,
        }
    };
    conn.close().await?;
    outcome?;
    Ok(())
}

/// Rows per multi-row statement, and keys per IN list, well under both engines' limits
/// on bound parameters.
const ROWS_PER_STATEMENT: usize = 100;

/// `sql` for the connection's engine: SQLite looks each `$N` parameter up by a scan of
/// every parameter name, so binding a statement of a thousand costs half a million steps,
/// where anonymous `?` parameters cost one each. A statement whose `$1`..`$n` each appear
/// once, in that order, is rewritten to them for SQLite; any other is left as it is.
pub(super) fn for_engine(conn: &AnyConnection, sql: String) -> String {
    if conn.backend_name() != <sqlx::Sqlite as sqlx::Database>::NAME {
        return sql;
    }
    anonymous_parameters(&sql).unwrap_or(sql)
}

/// `sql` with `$1`..`$n` as `?`, when each appears once and in order.
fn anonymous_parameters(sql: &str) -> Option<String> {
    let mut out = String::with_capacity(sql.len());
    let (mut rest, mut expected) = (sql, 1u32);
    while let Some(at) = rest.find('$') {
        let digits = rest[at + 1..].bytes().take_while(u8::is_ascii_digit).count();
        if rest[at + 1..at + 1 + digits].parse::<u32>().ok()? != expected {
            return None;
        }
        out.push_str(&rest[..at]);
        out.push('?');
        rest = &rest[at + 1 + digits..];
        expected += 1;
    }
    out.push_str(rest);
    Some(out)
}

/// The rows of `sql` for every key in `keys`, a hundred keys a query, each decoded by
/// `decode`: `{keys}` in `sql` stands for the keys' placeholders (as in `IN ({keys})`),
/// and `scope`, when given, is bound as `$1` before them.
pub(super) async fn rows_in<K: AsRef<str> + Sync, T>(
    conn: &mut AnyConnection,
    sql: &str,
    scope: Option<&str>,
    keys: &[K],
    decode: impl Fn(&sqlx::any::AnyRow) -> Result<T>,
) -> Result<Vec<T>> {
    let first = 1 + usize::from(scope.is_some());
    let mut rows = Vec::with_capacity(keys.len());
    for chunk in keys.chunks(ROWS_PER_STATEMENT) {
        let sql = for_engine(conn, sql.replace("{keys}", &codec::value_list(chunk.len(), first)));
        let mut query = sqlx::query(&sql);
        if let Some(scope) = scope {
            query = query.bind(scope);
        }
        for key in chunk {
            query = query.bind(key.as_ref());
        }
        rows.extend(decoded(&mut *conn, query, &decode).await?);
    }
    Ok(rows)
}

/// The rows of a query decoded one by one as they arrive: a read of every file of a
/// connection holds the decoded values only, never every driver row besides.
pub(super) async fn decoded<'q, 'c, E, T>(
    executor: E,
    query: sqlx::query::Query<'q, Any, sqlx::any::AnyArguments<'q>>,
    decode: impl Fn(&sqlx::any::AnyRow) -> Result<T>,
) -> Result<Vec<T>>
where
    E: sqlx::Executor<'c, Database = Any> + 'q,
    'c: 'q,
{
    use futures::TryStreamExt;
    let mut rows = query.fetch(executor);
    let mut out = Vec::new();
    while let Some(row) = rows.try_next().await? {
        out.push(decode(&row)?);
    }
    Ok(out)
}

/// SQLITE_BUSY and its extended codes (the primary code is the low byte).
fn is_busy(error: &dyn sqlx::error::DatabaseError) -> bool {
    error.code().and_then(|code| code.parse::<i32>().ok()).is_some_and(|code| code & 0xff == 5)
}

/// Each method is implemented beside its tables in a submodule; this block only routes.
#[async_trait]
impl Repository for SqlRepository {
    async fn platform(&self) -> Result<PlatformSettings> {
        registry::platform(self).await
    }
    async fn save_platform(&self, settings: &PlatformSettings) -> Result<()> {
        let done = registry::save_platform(self, settings).await?;
        runs::bump_registry_changes(self).await?;
        Ok(done)
    }
    async fn put_control_tag(&self, tag: &str, active: bool) -> Result<()> {
        let done = registry::put_control_tag(self, tag, active).await?;
        runs::bump_registry_changes(self).await?;
        Ok(done)
    }
    async fn active_control_tags(&self) -> Result<TagSet> {
        registry::active_control_tags(self).await
    }

    async fn put_user(&self, user: &User) -> Result<()> {
        registry::put_user(self, user).await
    }
    async fn user(&self, id: &str) -> Result<Option<User>> {
        registry::user(self, id).await
    }
    async fn users(&self) -> Result<Vec<User>> {
        registry::users(self).await
    }

    async fn put_resource(&self, resource: &Resource) -> Result<()> {
        // The write and its mark commit together: no file changes unmarked.
        let mut tx = self.begin().await?;
        registry::put_resource(&mut tx, resource).await?;
        runs::mark_files_changed(&mut tx, &[&resource.id]).await?;
        Ok(tx.commit().await?)
    }
    async fn resource(&self, id: &str) -> Result<Option<Resource>> {
        registry::resource(self, id).await
    }
    async fn resources_of(&self, ids: &[String]) -> Result<Vec<Resource>> {
        registry::resources_of(self, ids).await
    }
    async fn add_revision(&self, revision: &Revision) -> Result<()> {
        let mut tx = self.begin().await?;
        registry::add_revisions(&mut tx, &[revision]).await?;
        runs::mark_files_changed(&mut tx, &[&revision.resource_id]).await?;
        Ok(tx.commit().await?)
    }
    async fn revision(&self, id: &str) -> Result<Option<Revision>> {
        registry::revision(self, id).await
    }
    async fn latest_revision(&self, resource_id: &str) -> Result<Option<Revision>> {
        registry::latest_revision(self, resource_id).await
    }
    async fn grant_view(&self, resource_id: &str, user_id: &str) -> Result<()> {
        registry::grant_view(self, resource_id, user_id).await
    }
    async fn reachable_resources(&self, user_id: &str) -> Result<Vec<Resource>> {
        registry::reachable_resources(self, user_id).await
    }

    async fn create_connection(&self, connection: &Connection) -> Result<()> {
        let done = connections::create(self, connection).await?;
        runs::bump_registry_changes(self).await?;
        Ok(done)
    }
    async fn update_connection(&self, connection: &Connection) -> Result<()> {
        let done = connections::update(self, connection).await?;
        runs::bump_registry_changes(self).await?;
        Ok(done)
    }
    async fn connection(&self, id: &str) -> Result<Option<Connection>> {
        connections::get(self, id).await
    }
    async fn wrapped_channel_key(&self, connection_id: &str) -> Result<Option<String>> {
        connections::wrapped_channel_key(self, connection_id).await
    }
    async fn set_wrapped_channel_key(&self, connection_id: &str, wrapped: &str) -> Result<()> {
        let done = connections::set_wrapped_channel_key(self, connection_id, wrapped).await?;
        runs::bump_registry_changes(self).await?;
        Ok(done)
    }
    async fn connections(&self, include_archived: bool) -> Result<Vec<Connection>> {
        connections::list(self, include_archived).await
    }
    async fn archive_connection(&self, id: &str, at: Millis) -> Result<()> {
        let done = connections::archive(self, id, at).await?;
        runs::bump_registry_changes(self).await?;
        Ok(done)
    }
    async fn set_health(&self, connection_id: &str, health: Health) -> Result<()> {
        connections::set_health(self, connection_id, health).await
    }
    async fn set_transforms(&self, connection_id: &str, rules: &[TransformRule]) -> Result<()> {
        let done = connections::set_transforms(self, connection_id, rules).await?;
        runs::bump_registry_changes(self).await?;
        Ok(done)
    }
    async fn transforms(&self, connection_id: &str) -> Result<Vec<TransformRule>> {
        connections::transforms(self, connection_id).await
    }
    async fn set_owners(&self, connection_id: &str, user_ids: &[String]) -> Result<()> {
        connections::set_owners(self, connection_id, user_ids).await
    }
    async fn owners(&self, connection_id: &str) -> Result<Vec<String>> {
        connections::owners(self, connection_id).await
    }

    async fn share(&self, connection_id: &str, resource_id: &str, shared_by: &str, at: Millis) -> Result<()> {
        let mut tx = self.begin().await?;
        exchange::share(&mut tx, connection_id, resource_id, shared_by, at).await?;
        runs::mark_share_changed(&mut tx, connection_id, resource_id).await?;
        Ok(tx.commit().await?)
    }
    async fn active_shares(&self, connection_id: &str) -> Result<Vec<Share>> {
        exchange::shares(self, connection_id, false).await
    }
    async fn all_shares(&self, connection_id: &str) -> Result<Vec<Share>> {
        exchange::shares(self, connection_id, true).await
    }
    async fn shared_sources_page(&self, connection_id: &str, after: &str, limit: u32) -> Result<Vec<SharedSource>> {
        exchange::shared_sources_page(self, connection_id, after, limit).await
    }
    async fn shared_sources_of(&self, connection_id: &str, resource_ids: &[String]) -> Result<Vec<SharedSource>> {
        exchange::shared_sources_of(self, connection_id, resource_ids).await
    }
    async fn published_of(&self, connection_id: &str, resource_ids: &[String]) -> Result<Vec<PublishedEntry>> {
        exchange::published_of(self, connection_id, resource_ids).await
    }
    async fn remove_share(&self, connection_id: &str, resource_id: &str, reason: &str, at: Millis) -> Result<()> {
        let mut tx = self.begin().await?;
        exchange::remove_share(&mut tx, connection_id, resource_id, reason, at).await?;
        runs::mark_share_changed(&mut tx, connection_id, resource_id).await?;
        Ok(tx.commit().await?)
    }
    async fn published(&self, connection_id: &str) -> Result<Vec<PublishedEntry>> {
        exchange::published(self, connection_id).await
    }
    async fn published_between(
        &self,
        connection_id: &str,
        after: &str,
        upto: Option<&str>,
    ) -> Result<Vec<PublishedEntry>> {
        exchange::published_between(self, connection_id, after, upto).await
    }
    async fn put_published(&self, entry: &PublishedEntry) -> Result<()> {
        exchange::put_published(self, entry).await
    }
    async fn delete_published(&self, connection_id: &str, resource_id: &str) -> Result<()> {
        exchange::delete_published(self, connection_id, resource_id).await
    }
    async fn schedule_deletions(&self, connection_id: &str, object_keys: &[String], due_at: Millis) -> Result<()> {
        exchange::schedule_deletions(self, connection_id, object_keys, due_at).await
    }
    async fn due_deletions(&self, connection_id: &str, now: Millis, limit: u32) -> Result<Vec<String>> {
        exchange::due_deletions(self, connection_id, now, limit).await
    }
    async fn forget_deletions(&self, connection_id: &str, object_keys: &[String]) -> Result<()> {
        exchange::forget_deletions(self, connection_id, object_keys).await
    }
    async fn is_processed(&self, key: &str) -> Result<bool> {
        exchange::is_processed(self, key).await
    }
    async fn mark_processed(&self, key: &str, at: Millis) -> Result<()> {
        exchange::mark_processed(self, key, at).await
    }
    async fn take_lease(&self, key: &str, holder: &str, now: Millis, expires_at: Millis) -> Result<bool> {
        exchange::take_lease(self, key, holder, now, expires_at).await
    }
    async fn release_lease(&self, key: &str, holder: &str) -> Result<()> {
        exchange::release_lease(self, key, holder).await
    }
    async fn next_manifest_sequence(&self, connection_id: &str) -> Result<u64> {
        exchange::next_manifest_sequence(self, connection_id).await
    }

    async fn manifest_state(&self, connection_id: &str, shard: u32) -> Result<Option<ManifestState>> {
        exchange::manifest_state(self, connection_id, shard).await
    }
    async fn put_manifest_state(&self, state: &ManifestState) -> Result<ApplyOutcome> {
        exchange::put_manifest_state(self, state).await
    }
    async fn shard_states(&self, connection_id: &str) -> Result<Vec<ShardState>> {
        exchange::shard_states(self, connection_id).await
    }
    async fn begin_publish(&self, connection_id: &str) -> Result<(bool, i64)> {
        runs::begin_publish(self, connection_id).await
    }
    async fn end_publish(&self, connection_id: &str, version: i64) -> Result<()> {
        runs::end_publish(self, connection_id, version).await
    }
    async fn published_root(&self, connection_id: &str) -> Result<Option<String>> {
        runs::published_root(self, connection_id).await
    }
    async fn set_published_root(&self, connection_id: &str, digest: &str) -> Result<()> {
        runs::set_published_root(self, connection_id, digest).await
    }
    async fn registry_changes(&self) -> Result<i64> {
        runs::registry_changes(self).await
    }
    async fn publish_marks(&self, connection_id: &str) -> Result<Option<PublishMarks>> {
        runs::publish_marks(self, connection_id).await
    }
    async fn changed_files(&self, connection_id: &str, limit: u32) -> Result<ChangedFiles> {
        runs::changed_files(self, connection_id, limit).await
    }
    async fn forget_changed_files(&self, connection_id: &str, through: i64) -> Result<()> {
        runs::forget_changed_files(self, connection_id, through).await
    }
    async fn set_registry_seen(&self, connection_id: &str, seen: i64) -> Result<()> {
        runs::set_registry_seen(self, connection_id, seen).await
    }
    async fn mark_publish_dirty(&self, connection_id: &str) -> Result<()> {
        runs::mark_publish_dirty(self, connection_id).await
    }
    async fn plan_run(
        &self,
        sync_id: &str,
        connection_id: &str,
        copies: &[PlannedCopy],
        begun: (bool, i64),
        at: Millis,
    ) -> Result<bool> {
        runs::plan_run(self, sync_id, connection_id, copies, begun, at).await
    }
    async fn run_copies(&self, sync_id: &str, unsettled_only: bool) -> Result<Vec<PlannedCopy>> {
        runs::run_copies(self, sync_id, unsettled_only).await
    }
    async fn planned_copies(&self, sync_id: &str, resource_ids: &[String]) -> Result<Vec<PlannedCopy>> {
        runs::planned_copies(self, sync_id, resource_ids).await
    }
    async fn settle_copies(
        &self,
        sync_id: &str,
        settlements: &[CopySettlement],
        due_at: Millis,
    ) -> Result<Option<RunState>> {
        runs::settle_copies(self, sync_id, settlements, due_at).await
    }
    async fn run_progress(&self, sync_id: &str) -> Result<Option<RunState>> {
        runs::run_progress(self, sync_id).await
    }
    async fn start_receive_progress(&self, sync_id: &str, files: u64, bytes: u64, at: Millis) -> Result<()> {
        runs::start_receive_progress(self, sync_id, files, bytes, at).await
    }
    async fn add_received_bytes(&self, sync_id: &str, bytes: u64) -> Result<()> {
        runs::add_received_bytes(self, sync_id, bytes).await
    }
    async fn receive_progress(&self, sync_id: &str) -> Result<Option<ReceiveProgress>> {
        runs::receive_progress(self, sync_id).await
    }
    async fn forget_run(&self, sync_id: &str) -> Result<()> {
        runs::forget_run(self, sync_id).await
    }
    async fn put_pending_shards(
        &self,
        sync_id: &str,
        connection_id: &str,
        sequence: u64,
        states: &[ShardState],
    ) -> Result<()> {
        runs::put_pending_shards(self, sync_id, connection_id, sequence, states).await
    }
    async fn applied_in_shard(&self, connection_id: &str, shard: u32) -> Result<Vec<AppliedEntry>> {
        exchange::applied_in_shard(self, connection_id, shard).await
    }
    async fn reset_replay_state(&self, connection_id: &str) -> Result<()> {
        exchange::reset_replay_state(self, connection_id).await
    }
    async fn applied(&self, connection_id: &str) -> Result<Vec<AppliedEntry>> {
        exchange::applied(self, connection_id).await
    }
    async fn applied_entry(&self, connection_id: &str, remote_resource_id: &str) -> Result<Option<AppliedEntry>> {
        exchange::applied_entry(self, connection_id, remote_resource_id).await
    }
    async fn apply_changes(&self, changes: &[ReceivedChange]) -> Result<Vec<ApplyOutcome>> {
        exchange::apply_changes(self, changes).await
    }
    async fn applied_entries(&self, connection_id: &str, remote_resource_ids: &[String]) -> Result<Vec<AppliedEntry>> {
        exchange::applied_entries(self, connection_id, remote_resource_ids).await
    }
    async fn stored_revisions(&self, revision_ids: &[String]) -> Result<Vec<String>> {
        registry::stored_revisions(self, revision_ids).await
    }
    async fn set_incoming_tags(&self, connection_id: &str, tags: &TagSet) -> Result<()> {
        exchange::set_incoming_tags(self, connection_id, tags).await
    }
    async fn incoming_tags(&self, connection_id: &str) -> Result<TagSet> {
        exchange::incoming_tags(self, connection_id).await
    }

    async fn record_status(&self, report: &StatusReport, now: Millis) -> Result<SyncEvent> {
        sync::record_status(self, report, now).await
    }
    async fn sync_rows(&self, sync_id: &str, limit: u32, offset: u32) -> Result<Vec<ResourceRow>> {
        sync::sync_rows(self, sync_id, limit, offset).await
    }
    async fn expire_sync_events(
        &self,
        started_before: Millis,
        now: Millis,
        deadline_secs: u64,
    ) -> Result<Vec<SyncEvent>> {
        sync::expire(self, started_before, now, deadline_secs).await
    }
    async fn sync_event_heads(
        &self,
        connection_id: &str,
        with_updates_only: bool,
        limit: u32,
        offset: u32,
    ) -> Result<Vec<SyncEvent>> {
        sync::sync_event_heads(self, connection_id, with_updates_only, limit, offset).await
    }
    async fn sync_event_head(&self, sync_id: &str) -> Result<Option<SyncEvent>> {
        sync::sync_event_head(self, sync_id).await
    }
    async fn sync_event(&self, sync_id: &str) -> Result<Option<SyncEvent>> {
        sync::sync_event(self, sync_id).await
    }
    async fn sync_events(
        &self,
        connection_id: &str,
        with_updates_only: bool,
        limit: u32,
        offset: u32,
    ) -> Result<Vec<SyncEvent>> {
        sync::sync_events(self, connection_id, with_updates_only, limit, offset).await
    }

    async fn control_tags(&self) -> Result<Vec<ControlTag>> {
        platform::control_tags(self).await
    }
    async fn sign_in(&self, sign_in: &SignIn) -> Result<SignedIn> {
        platform::sign_in(self, sign_in).await
    }
    async fn user_account(&self, id: &str) -> Result<Option<UserAccount>> {
        platform::user_account(self, id).await
    }
    async fn search_users(&self, search: &str, limit: u32, offset: u32) -> Result<Page<UserAccount>> {
        platform::search_users(self, search, limit, offset).await
    }
    async fn set_user_clearance(&self, id: &str, clearance: &Clearance) -> Result<()> {
        platform::set_user_clearance(self, id, clearance).await
    }
    async fn set_secure_connections(&self, id: &str, enabled: bool) -> Result<()> {
        platform::set_secure_connections(self, id, enabled).await
    }
    async fn level_usage(&self, name: &str) -> Result<LevelUsage> {
        platform::level_usage(self, name).await
    }
    async fn usage_above(&self, order: i64) -> Result<LevelUsage> {
        platform::usage_above(self, order).await
    }
    async fn rename_level(&self, from: &str, to: &str) -> Result<()> {
        let done = platform::rename_level(self, from, to).await?;
        runs::bump_registry_changes(self).await?;
        Ok(done)
    }
    async fn remove_shares_with_tag(&self, tag: &str, reason: &str, at: Millis) -> Result<Vec<Share>> {
        let done = platform::remove_shares_with_tag(self, tag, reason, at).await?;
        runs::bump_registry_changes(self).await?;
        Ok(done)
    }
    async fn resource_shares(&self, resource_id: &str) -> Result<Vec<Share>> {
        platform::resource_shares(self, resource_id).await
    }
    async fn revisions(&self, resource_id: &str) -> Result<Vec<Revision>> {
        platform::revisions(self, resource_id).await
    }
    async fn record_audit(&self, entry: &AuditEntry) -> Result<()> {
        platform::record_audit(self, entry).await
    }
    async fn audit_entries(&self, limit: u32, offset: u32) -> Result<Page<AuditEntry>> {
        platform::audit_entries(self, limit, offset).await
    }
}

#[cfg(test)]
mod tests {
    use super::anonymous_parameters;

    #[test]
    fn only_parameters_in_order_become_anonymous() {
        assert_eq!(anonymous_parameters("VALUES ($1, $2), ($3, $4)").as_deref(), Some("VALUES (?, ?), (?, ?)"));
        assert_eq!(anonymous_parameters("SELECT 1").as_deref(), Some("SELECT 1"));
        assert_eq!(anonymous_parameters("a = $1 AND b IN ($2, $10)"), None, "a gap");
        assert_eq!(anonymous_parameters("a = $1 OR b = $1"), None, "one bound twice");
        assert_eq!(anonymous_parameters("a = $2 AND b = $1"), None, "out of order");
        assert_eq!(anonymous_parameters("a = '$' || $1"), None, "a dollar that is no parameter");
    }
}
