//! One publish run: what a sending connection shares, checked against its policy, copied
//! into its outbox where the revision is new, then named by the signed manifest. A run with
//! a few copies does them itself; a larger one fans them out (see `fanout`).

use crate::fanout;
use crate::manifests::{ManifestsError, Written};
use airlock_domain::manifest::object_key;
use airlock_domain::pipeline::{PublishRequest, PublishStep, ResourceOutcome, ResourceRow};
use airlock_domain::{
    failures, now_millis, shard_for, transform, Connection, ConnectionKind, InfosecLevel, Manifest, ManifestEntry,
    PlatformSettings, Resource, TagSet, TransformRule,
};
use airlock_protocol::{ChannelKeys, PayloadKey, StreamSummary};
use airlock_repo::{PlannedCopy, PublishedEntry, RepoError, SharedSource};
use airlock_runtime::{Context, HandlerError, TraceContext};
use airlock_store::object_store::{path::Path, ObjectStore};
use airlock_store::{Directory, SMALL_OBJECT};
use futures::stream::{self, StreamExt, TryStreamExt};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;
use tokio::io::AsyncWriteExt;

/// How a publish step failed short of an outcome: the database or bus briefly away (worth
/// another delivery), a connection that doesn't exist, a registry store not configured, or
/// the connection's publish running elsewhere.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error(transparent)]
    Repo(#[from] RepoError),
    /// The bus, or a port read again for another step, briefly away.
    #[error("{0}")]
    Unavailable(String),
    #[error("connection '{0}' not found")]
    UnknownConnection(String),
    #[error("{0}")]
    Misconfigured(String),
    #[error("a publish of connection '{0}' is running elsewhere; this one waits for it")]
    Busy(String),
}

impl From<PublishError> for HandlerError {
    fn from(error: PublishError) -> Self {
        match error {
            PublishError::Repo(_) | PublishError::Unavailable(_) => HandlerError::Retryable(error.to_string()),
            PublishError::Busy(_) => HandlerError::Deferred(error.to_string()),
            PublishError::UnknownConnection(_) | PublishError::Misconfigured(_) => {
                HandlerError::Permanent(error.to_string())
            }
        }
    }
}

pub enum PublishOutcome {
    /// Nothing to do (archived or not a sending connection, or a step already done).
    Skipped(&'static str),
    Published {
        summary: String,
        rows: Vec<ResourceRow>,
    },
    /// The sync failed as a whole (no manifest produced), with the rows done before.
    Failed {
        message: String,
        rows: Vec<ResourceRow>,
    },
    /// The run sent this many copy messages; its finish reports the sync.
    FannedOut {
        copies: usize,
    },
    /// One copy of a fanned-out run is settled.
    Copied,
}

/// One step of a publish run of a sending connection. At most one run goes on per
/// connection at a time, across processes: a second waits (`Busy`) for the first to finish.
pub async fn publish(ctx: &Context, request: &PublishRequest) -> Result<PublishOutcome, PublishError> {
    publish_step(ctx, request, &TraceContext::new_root()).await
}

/// `publish`, with the messages it sends in the trace of the one it handles.
pub async fn publish_step(
    ctx: &Context,
    request: &PublishRequest,
    trace: &TraceContext,
) -> Result<PublishOutcome, PublishError> {
    match &request.step {
        PublishStep::Plan => fanout::plan(ctx, request, trace).await,
        PublishStep::Copy { resource_ids } => fanout::copy(ctx, request, resource_ids, trace).await,
        PublishStep::Finish => fanout::finish(ctx, request).await,
    }
}

/// What every step of a run needs: the connection and where its revisions go.
pub(crate) struct Setup {
    pub connection: Connection,
    pub outbox: Arc<dyn ObjectStore>,
    pub keys: ChannelKeys,
    pub registry: Arc<dyn ObjectStore>,
    /// Both ends as directories, when both are: small revisions are then copied whole.
    pub directories: Option<(Directory, Directory)>,
}

impl Setup {
    /// The connection's setup, or the outcome that stops the run before it starts.
    pub async fn load(ctx: &Context, connection_id: &str) -> Result<Result<Self, PublishOutcome>, PublishError> {
        let Some(connection) = ctx.repo.connection(connection_id).await? else {
            return Err(PublishError::UnknownConnection(connection_id.into()));
        };
        if connection.kind != ConnectionKind::Sending {
            return Ok(Err(PublishOutcome::Skipped("not a sending connection")));
        }
        if !connection.is_active() {
            return Ok(Err(PublishOutcome::Skipped("connection is archived")));
        }
        let failed = |message: String| Ok(Err(PublishOutcome::Failed { message, rows: Vec::new() }));
        let outbox = match ctx.stores.get(&connection.store_label) {
            Ok(store) => store,
            Err(e) => return failed(e.to_string()),
        };
        let keys = match ctx.channel_keys(&connection).await {
            Ok(keys) => keys,
            Err(message) => return failed(message.into()),
        };
        let registry = ctx.registry_store().map_err(|e| PublishError::Misconfigured(e.to_string()))?;
        let directories =
            ctx.stores.directory(&ctx.settings.registry_store).zip(ctx.stores.directory(&connection.store_label));
        Ok(Ok(Self { connection, outbox, keys, registry, directories }))
    }

    /// Streams one revision from the registry, encrypted, into the outbox.
    pub(crate) async fn copy_revision(
        &self,
        ctx: &Context,
        entry: &ManifestEntry,
        blob_key: &str,
    ) -> Result<(), String> {
        let fail = |what: String| {
            failures::outbox_write_failed(format!("revision {} size={}: {what}", entry.revision_id, entry.size))
        };
        if let Some((registry, outbox)) = self.directories.clone().filter(|_| entry.size <= SMALL_OBJECT as u64) {
            let key = self.keys.payload_key(&entry.revision_id);
            let (entry, blob_key, chunk_size) = (entry.clone(), blob_key.to_owned(), ctx.settings.chunk_size);
            let whole = tokio::task::spawn_blocking(move || {
                copy_whole(&registry, &outbox, &key, &blob_key, &entry, chunk_size)
            });
            match whole.await.map_err(|e| fail(format!("the copy stopped: {e}")))? {
                Ok(true) => return Ok(()),
                // Larger than its record says: the stream finds out how.
                Ok(false) => {}
                Err(what) => return Err(fail(what)),
            }
        }
        let source = airlock_store::reader(&self.registry, blob_key)
            .await
            .map_err(|e| fail(format!("reading the registry copy failed: {e}")))?;
        let mut sink = airlock_store::writer(self.outbox.clone(), &entry.object_key);
        let key = self.keys.payload_key(&entry.revision_id);
        let result = airlock_protocol::encrypt_stream(&key, source, &mut sink, ctx.settings.chunk_size).await;
        let summary = match result {
            Ok(summary) => summary,
            Err(e) => {
                let _ = sink.abort().await;
                return Err(fail(e.to_string()));
            }
        };
        if let Err(what) = matches_record(&summary, entry) {
            let _ = sink.abort().await;
            return Err(fail(what));
        }
        sink.shutdown().await.map_err(|e| fail(e.to_string()))
    }
}

/// Whether what was read is the revision the registry recorded.
fn matches_record(summary: &StreamSummary, entry: &ManifestEntry) -> Result<(), String> {
    if summary.sha256 != entry.sha256 || summary.plain_size != entry.size {
        return Err(format!(
            "the registry copy does not match its recorded checksum (sha256 {} != {})",
            summary.sha256, entry.sha256
        ));
    }
    Ok(())
}

/// Copies a small revision whole on this thread: read, sealed and written in three calls.
/// `Ok(false)`: the registry's file is too large for that, and nothing was written.
fn copy_whole(
    registry: &Directory,
    outbox: &Directory,
    key: &PayloadKey,
    blob_key: &str,
    entry: &ManifestEntry,
    chunk_size: usize,
) -> Result<bool, String> {
    let Some(plain) =
        registry.read_small(blob_key, SMALL_OBJECT).map_err(|e| format!("reading the registry copy failed: {e}"))?
    else {
        return Ok(false);
    };
    let (sealed, summary) = airlock_protocol::encrypt_bytes(key, &plain, chunk_size).map_err(|e| e.to_string())?;
    matches_record(&summary, entry)?;
    outbox.write(&entry.object_key, &sealed).map_err(|e| e.to_string())?;
    Ok(true)
}

/// What a pass reads, in a fixed number of queries whatever the number of files, and what
/// it will do with each share, decided once.
pub(crate) struct Snapshot {
    /// `registry_changes` read before anything else: what the run has seen.
    changes: i64,
    /// The newest change mark the snapshot covers (see `Repository::changed_files`).
    through: i64,
    /// Only some files were read, the rest being as the last run left them; `None`: all.
    partial: Option<Partial>,
    platform: PlatformSettings,
    decisions: Vec<Decision>,
    /// The published records no decision took: their files are no longer shared, or no
    /// longer published (removed, or with no revision), and leave the manifests.
    gone: Vec<PublishedEntry>,
}

impl Snapshot {
    /// Every shared file and published record of the connection.
    pub async fn read(ctx: &Context, setup: &Setup) -> Result<Self, PublishError> {
        let changes = ctx.repo.registry_changes().await?;
        // Read before the files: a mark made after is left for the next run.
        let through = ctx.repo.changed_files(&setup.connection.id, 0).await?.through;
        Self::read_files(ctx, setup, changes, through, None).await
    }

    /// Only the files marked changed since the last run (`ids`, covering marks up to
    /// `through`), when nothing that concerns every file changed (`changes` is what the
    /// last run saw); `root` is that run's, whose other shards the pass keeps.
    pub async fn read_changed(
        ctx: &Context,
        setup: &Setup,
        changes: i64,
        ids: Vec<String>,
        through: i64,
        root: Manifest,
    ) -> Result<Self, PublishError> {
        let mut snapshot = Self::read_files(ctx, setup, changes, through, Some(&ids)).await?;
        snapshot.partial = Some(Partial { read: ids.into_iter().collect(), root });
        Ok(snapshot)
    }

    /// Every file a page at a time, each page's published records read beside it, so the
    /// rows of every file are never held at once; or `only` these files.
    async fn read_files(
        ctx: &Context,
        setup: &Setup,
        changes: i64,
        through: i64,
        only: Option<&[String]>,
    ) -> Result<Self, PublishError> {
        let repo = &ctx.repo;
        let connection_id = &setup.connection.id;
        let platform = repo.platform().await?;
        let rules = repo.transforms(connection_id).await?;
        let mut snapshot = Self { changes, through, partial: None, platform, decisions: Vec::new(), gone: Vec::new() };
        if let Some(ids) = only {
            let sources = repo.shared_sources_of(connection_id, ids).await?;
            let previous = repo.published_of(connection_id, ids).await?;
            snapshot.decide_all(setup, &rules, sources, previous);
            return Ok(snapshot);
        }
        let (mut after, page) = (String::new(), ctx.settings.publish_page.max(1));
        loop {
            let sources = repo.shared_sources_page(connection_id, &after, page).await?;
            // A short page is the last.
            let full = sources.len() == page as usize;
            let last = sources.last().filter(|_| full).map(|s| s.share.resource_id.clone());
            // The records from after the last page up to this one's last file (after it,
            // to the end, on the last page): the pages' ranges leave none out.
            let previous = repo.published_between(connection_id, &after, last.as_deref()).await?;
            snapshot.decide_all(setup, &rules, sources, previous);
            match last {
                Some(last) => after = last,
                None => return Ok(snapshot),
            }
        }
    }

    /// Decides each source, with its published record if any; the records left are gone.
    fn decide_all(
        &mut self,
        setup: &Setup,
        rules: &[TransformRule],
        sources: Vec<SharedSource>,
        previous: Vec<PublishedEntry>,
    ) {
        let mut previous: HashMap<String, PublishedEntry> =
            previous.into_iter().map(|p| (p.resource_id.clone(), p)).collect();
        for source in sources {
            let mut before = previous.remove(&source.share.resource_id);
            self.decisions.push(decide(setup, &self.platform, rules, source, &mut before));
            self.gone.extend(before);
        }
        self.gone.extend(previous.into_values());
    }

    /// How many revisions a pass over this snapshot would copy, and their bytes.
    pub fn copy_totals(&self) -> (usize, u64) {
        self.decisions.iter().fold((0, 0), |(count, bytes), decision| match decision {
            Decision::Copy(copy) => (count + 1, bytes + copy.entry.size),
            _ => (count, bytes),
        })
    }

    /// The revisions a pass over this snapshot would copy, for a fanned-out run. The
    /// snapshot is given up for them, each decision dropped as its copy is planned, so a
    /// large run never holds both whole.
    pub fn into_copies(self) -> Vec<PlannedCopy> {
        self.decisions
            .into_iter()
            .filter_map(|decision| match decision {
                Decision::Copy(copy) => Some(copy.planned()),
                _ => None,
            })
            .collect()
    }
}

/// What a pass does with one share.
enum Decision {
    /// The share goes, with the reason.
    Remove { resource_id: String, name: String, reason: String },
    /// The file has no revision to publish.
    NoRevision(Resource),
    /// Its published object is there: at most its entry changed. The entry carries the
    /// resource's id, name and level; `tags` are the resource's own, before the transforms.
    /// (Most shares are kept, most runs: nothing more of the resource is held, nor its
    /// record, only how it differs.)
    Keep { entry: ManifestEntry, tags: TagSet, shard: u32, record: Record },
    /// Its revision is not in the outbox yet (boxed: few are, most runs).
    Copy(Box<Copy>),
}

/// How a kept share's published record differs from the one its entry makes now.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Record {
    Same,
    /// Only where it is kept (its shard moved): written again, the manifests unchanged.
    Moved,
    /// Its entry changed (name, tags or level): written again, and the partner told.
    Changed,
}

/// A revision to copy into the outbox, and what the run records once it is there.
pub(crate) struct Copy {
    /// The resource's own tags, before the transforms (its id, name and level are the
    /// entry's).
    tags: TagSet,
    blob_key: String,
    entry: ManifestEntry,
    shard: u32,
    /// What was published before for the resource.
    before: Option<PublishedEntry>,
}

impl Copy {
    fn planned(&self) -> PlannedCopy {
        let before = self.before.as_ref();
        PlannedCopy {
            resource_id: self.entry.resource_id.clone(),
            name: self.entry.name.clone(),
            size: self.entry.size,
            blob_key: self.blob_key.clone(),
            shard: self.shard,
            entry_json: entry_json(&self.entry),
            replaces: before.map(|b| b.object_key.clone()),
            settled: None,
        }
    }
}

/// What to do with a share, `before` being its published record: a share kept or copied
/// takes it, one removed or with no revision leaves it, to leave the manifests.
fn decide(
    setup: &Setup,
    platform: &PlatformSettings,
    rules: &[TransformRule],
    source: SharedSource,
    before: &mut Option<PublishedEntry>,
) -> Decision {
    let conn = &setup.connection;
    let resource_id = source.share.resource_id;
    let Some(resource) = source.resource.filter(|r| r.withdrawn_at.is_none()) else {
        let reason = "the file no longer exists in the registry".into();
        return Decision::Remove { name: resource_id.clone(), resource_id, reason };
    };
    let policy = conn.sending_policy(platform.infosec_enabled);
    if let Err(why) = policy.check(&resource.level, &resource.tags, platform.lowest_level().order) {
        return Decision::Remove { resource_id, name: resource.name, reason: why.to_string() };
    }
    let Some(revision) = source.revision else {
        return Decision::NoRevision(resource);
    };
    let entry = ManifestEntry {
        resource_id: resource.id.clone(),
        revision_id: revision.id.clone(),
        name: resource.name.clone(),
        size: revision.size,
        sha256: revision.sha256.clone(),
        object_key: object_key(&conn.shared_id, &resource.id, &revision.id, &setup.keys.key_id()),
        tags: transform::apply(rules, &resource.tags),
        level: resource.level.clone(),
    };
    let shard = shard_for(&resource.id, conn.shard_count);
    match before.take() {
        Some(before) if before.object_key == entry.object_key => {
            let now = published_record(&conn.id, &entry, shard, entry_json(&entry));
            // Unchanged files (most of them, most syncs) need no write.
            let record = if before.entry_json != now.entry_json {
                Record::Changed
            } else if before != now {
                Record::Moved
            } else {
                Record::Same
            };
            Decision::Keep { entry, tags: resource.tags, shard, record }
        }
        before => {
            Decision::Copy(Box::new(Copy { tags: resource.tags, blob_key: revision.blob_key, entry, shard, before }))
        }
    }
}

/// An entry as its published record stores it.
pub(crate) fn entry_json(entry: &ManifestEntry) -> String {
    serde_json::to_string(entry).expect("manifest entry serializes")
}

/// The record of a published entry, `entry_json` being the entry as `entry_json` wrote it.
/// Decisions keep only the entry: a run over every file builds each record when it writes
/// or compares it, rather than holding them all.
pub(crate) fn published_record(
    connection_id: &str,
    entry: &ManifestEntry,
    shard: u32,
    entry_json: String,
) -> PublishedEntry {
    PublishedEntry {
        connection_id: connection_id.to_owned(),
        resource_id: entry.resource_id.clone(),
        revision_id: entry.revision_id.clone(),
        shard,
        object_key: entry.object_key.clone(),
        entry_json,
    }
}

/// How a pass comes by the revisions it must copy.
pub(crate) enum Copies {
    /// It copies them itself.
    Inline,
    /// A fanned-out run's copies by resource, settled: done ones are in the records already.
    Settled(HashMap<String, SettledCopy>),
}

/// What a finish needs of a settled copy: which entry it published and how it went. The
/// planned copy's own fields (its entry as JSON, the blob it read) are not kept, nor its
/// object's key, so a run of 100,000 copies holds under two hundred bytes for each.
pub(crate) struct SettledCopy {
    /// SHA-256 of the planned entry's JSON, to tell whether a copy the pass would make
    /// now is the one planned.
    entry_digest: [u8; 32],
    /// SHA-256 of the key of the object the copy wrote: a finish holds one of these for
    /// every copy of the run, and the key is several times its size.
    object_digest: [u8; 32],
    /// `None` until settled; then done, or failed with the reason.
    settled: Option<Result<(), String>>,
}

impl SettledCopy {
    /// `None` when the planned entry is unreadable: then it counts as never planned.
    pub(crate) fn of(planned: PlannedCopy) -> Option<(String, SettledCopy)> {
        let entry: ManifestEntry = serde_json::from_str(&planned.entry_json).ok()?;
        let copy = SettledCopy {
            entry_digest: Sha256::digest(planned.entry_json.as_bytes()).into(),
            object_digest: Sha256::digest(entry.object_key.as_bytes()).into(),
            settled: planned.settled,
        };
        Some((planned.resource_id, copy))
    }
}

/// One pass that ends with the manifest: the shares checked again, new revisions copied
/// (or taken as the fanned-out copies left them), records brought up to date, the manifest
/// written. `begun` is what `begin_publish` gave the run.
pub(crate) async fn run_pass(
    ctx: &Context,
    setup: &Setup,
    snapshot: Snapshot,
    copies: Copies,
    begun: (bool, i64),
) -> Result<PublishOutcome, PublishError> {
    let (rebuild_all, version) = begun;
    let Snapshot { changes, mut through, partial, platform, decisions, gone } = snapshot;
    let mut run = Run {
        ctx,
        setup,
        platform,
        classification: BTreeMap::new(),
        rows: Vec::new(),
        changed: BTreeSet::new(),
        rebuild_all,
        partial,
    };
    let entries = run.collect_entries(decisions, gone, copies).await?;
    // Copying may have taken long, and the connection may have been archived or narrowed
    // meanwhile: the manifests name only what it allows now, read once for the whole run.
    let connection = &setup.connection;
    let Some(current) = ctx.repo.connection(&connection.id).await? else {
        return Err(PublishError::UnknownConnection(connection.id.clone()));
    };
    if !current.is_active() {
        return Ok(PublishOutcome::Failed { message: failures::ARCHIVED_DURING_PUBLISH.into(), rows: run.rows });
    }
    let mut written = run.withdraw_and_write(&current, entries).await?;
    if matches!(written, Err(ManifestsError::NeedEveryFile)) {
        // The changed files' shards could not be patched (the shard count moves, or the
        // last root or a shard is not as written): every file is read and every shard
        // written, as after an interrupted run. What the changed files' pass recorded is
        // in the records now, so nothing is copied twice.
        let full = Snapshot::read(ctx, setup).await?;
        through = full.through;
        (run.partial, run.rebuild_all) = (None, true);
        let entries = run.collect_entries(full.decisions, full.gone, Copies::Inline).await?;
        written = run.withdraw_and_write(&current, entries).await?;
    }
    let written = match written {
        Ok(written) => written,
        Err(ManifestsError::Failed(message)) => return Ok(PublishOutcome::Failed { message, rows: run.rows }),
        Err(ManifestsError::NeedEveryFile) => unreachable!("a pass over every file patches no shard"),
    };
    let published_count = written.entries;
    ctx.repo.end_publish(&connection.id, version).await?;
    ctx.repo.set_registry_seen(&connection.id, changes).await?;
    ctx.repo.forget_changed_files(&connection.id, through).await?;
    remove_due_objects(ctx, &connection.id, &setup.outbox, now_millis()).await?;
    let failed = run.rows.iter().filter(|r| r.outcome == ResourceOutcome::Failed).count();
    let changed = run.rows.len() - failed;
    let summary = format!(
        "published {published_count} resource(s) in {} shard(s): {changed} change(s), {failed} failure(s); {}",
        written.shard_count,
        written.describe()
    );
    Ok(PublishOutcome::Published { summary, rows: run.rows })
}

/// Objects removed per run at most, so a backlog spreads over runs instead of one long one.
const DELETIONS_PER_RUN: u32 = 1_000;

/// Removes the superseded objects whose grace period is over. A removal that fails stays
/// scheduled and is tried again by the next run.
pub(crate) async fn remove_due_objects(
    ctx: &Context,
    connection_id: &str,
    outbox: &Arc<dyn ObjectStore>,
    now: airlock_domain::Millis,
) -> Result<(), PublishError> {
    let due = ctx.repo.due_deletions(connection_id, now, DELETIONS_PER_RUN).await?;
    let mut removed = Vec::with_capacity(due.len());
    for key in due {
        match outbox.delete(&Path::from(key.as_str())).await {
            Ok(()) => removed.push(key),
            Err(e) if airlock_store::is_not_found(&e) => removed.push(key),
            Err(e) => {
                tracing::warn!(key, error = %e, "could not delete a superseded outbox object; tried again next run")
            }
        }
    }
    ctx.repo.forget_deletions(connection_id, &removed).await?;
    Ok(())
}

pub(crate) struct Run<'a> {
    pub ctx: &'a Context,
    pub setup: &'a Setup,
    /// One read per run, so eligibility and the manifests' max level agree.
    pub platform: PlatformSettings,
    /// Each entry's level and tags as the registry holds them (before the sending
    /// transforms), to check them again against the connection as it is at the end.
    classification: BTreeMap<String, (InfosecLevel, TagSet)>,
    rows: Vec<ResourceRow>,
    /// Resources whose entry this run changed, added or took out: only their shards are
    /// rebuilt, unless `rebuild_all`.
    pub changed: BTreeSet<String>,
    pub rebuild_all: bool,
    /// Set when the pass read only the changed files: the manifests' other entries are as
    /// the last root names them. `None`: the pass read every file.
    pub partial: Option<Partial>,
}

/// What a pass over the changed files works from: the files it read, and the last root,
/// whose other shards it keeps.
pub(crate) struct Partial {
    pub read: BTreeSet<String>,
    pub root: Manifest,
}

impl Run<'_> {
    /// The entries the manifests will carry. Outbox objects they no longer name are
    /// scheduled for deletion before the record naming them goes, so a run that stops
    /// anywhere after (killed, or its manifests not written) leaves no object that nothing
    /// names: a receiver may still be working from the previous manifest, so they go after
    /// the grace period, removed by a later run once its manifests are out.
    async fn collect_entries(
        &mut self,
        decisions: Vec<Decision>,
        gone: Vec<PublishedEntry>,
        copies: Copies,
    ) -> Result<BTreeMap<String, ManifestEntry>, PublishError> {
        let repo = &self.ctx.repo;
        let conn = &self.setup.connection;
        let mut entries = BTreeMap::new();
        let mut to_copy = Vec::new();

        // A share removed here, or with no revision, left its record in `gone`: it leaves
        // the manifests below like anything no longer shared.
        for decision in decisions {
            match decision {
                Decision::Remove { resource_id, name, reason } => {
                    self.remove_share(&resource_id, &name, &reason).await?;
                }
                Decision::NoRevision(resource) => {
                    self.classify(&resource.id, &resource.level, resource.tags.clone());
                    let message = "the file has no revision to publish".into();
                    self.row(&resource.id, &resource.name, ResourceOutcome::Failed, message);
                }
                Decision::Keep { entry, tags, shard, record } => {
                    let id = entry.resource_id.clone();
                    if record == Record::Changed {
                        let message = "published changed name, tags or level".into();
                        self.row(&id, &entry.name, ResourceOutcome::Updated, message);
                        self.changed.insert(id.clone());
                    }
                    if record != Record::Same {
                        repo.put_published(&published_record(&conn.id, &entry, shard, entry_json(&entry))).await?;
                    }
                    self.classify(&id, &entry.level, tags);
                    entries.insert(id, entry);
                }
                Decision::Copy(copy) => {
                    self.classify(&copy.entry.resource_id, &copy.entry.level, copy.tags.clone());
                    to_copy.push(*copy);
                }
            }
        }
        match copies {
            Copies::Inline => self.copy_all(to_copy, &mut entries).await?,
            Copies::Settled(settled) => self.take_settled(to_copy, &settled, &mut entries),
        }

        // What was published before and is no longer shared leaves the manifests.
        let due_at = now_millis() + self.ctx.settings.object_grace.as_millis() as i64;
        let gone_keys: Vec<String> = gone.iter().map(|gone| gone.object_key.clone()).collect();
        repo.schedule_deletions(&conn.id, &gone_keys, due_at).await?;
        let with_rows: HashSet<String> =
            if gone.is_empty() { HashSet::new() } else { self.rows.iter().map(|r| r.resource_id.clone()).collect() };
        for gone in gone {
            let resource_id = gone.resource_id;
            repo.delete_published(&conn.id, &resource_id).await?;
            self.changed.insert(resource_id.clone());
            if !with_rows.contains(&resource_id) {
                let name = serde_json::from_str::<ManifestEntry>(&gone.entry_json).map(|e| e.name).unwrap_or_default();
                self.row(&resource_id, &name, ResourceOutcome::Removed, "no longer shared with this connection".into());
            }
        }
        Ok(entries)
    }

    /// Records a resource's level and tags as the registry holds them, for
    /// `withdraw_no_longer_allowed`.
    fn classify(&mut self, resource_id: &str, level: &InfosecLevel, tags: TagSet) {
        self.classification.insert(resource_id.to_owned(), (level.clone(), tags));
    }

    /// Copies the new revisions, `copy_concurrency` at a time, and records each as it is
    /// there (see `record_copy`).
    async fn copy_all(
        &mut self,
        copies: Vec<Copy>,
        entries: &mut BTreeMap<String, ManifestEntry>,
    ) -> Result<(), PublishError> {
        let (ctx, setup) = (self.ctx, self.setup);
        // Each copy records itself: nothing is awaited between polls of the stream, which
        // would leave the copies in flight holding database connections unpolled.
        let finished: Vec<(Copy, Result<(), String>)> = stream::iter(copies)
            .map(|copy| async move {
                let result = setup.copy_revision(ctx, &copy.entry, &copy.blob_key).await;
                if result.is_ok() {
                    let replaces = copy.before.as_ref().map(|b| b.object_key.as_str());
                    let record =
                        published_record(&setup.connection.id, &copy.entry, copy.shard, entry_json(&copy.entry));
                    record_copy(ctx, &setup.connection.id, replaces, &record).await?;
                }
                Ok::<_, PublishError>((copy, result))
            })
            .buffer_unordered(ctx.settings.copy_concurrency.max(1))
            .try_collect()
            .await?;
        for (copy, result) in finished {
            self.copied(copy, result, entries);
        }
        Ok(())
    }

    /// The revisions a fanned-out run's copies settled: done ones are recorded already, so
    /// their shares look as if nothing needed copying; they still count as changed here.
    /// One that needs a copy its plan did not make (a revision newer than the plan) keeps
    /// the partner on what it has until the next run.
    fn take_settled(
        &mut self,
        to_copy: Vec<Copy>,
        settled: &HashMap<String, SettledCopy>,
        entries: &mut BTreeMap<String, ManifestEntry>,
    ) {
        for copy in to_copy {
            let digest: [u8; 32] = Sha256::digest(entry_json(&copy.entry).as_bytes()).into();
            let planned = settled.get(&copy.entry.resource_id).filter(|p| p.entry_digest == digest);
            match planned.and_then(|p| p.settled.clone()) {
                Some(Err(message)) => self.copied(copy, Err(message), entries),
                _ => {
                    if let Some(old) =
                        copy.before.and_then(|b| serde_json::from_str::<ManifestEntry>(&b.entry_json).ok())
                    {
                        entries.insert(copy.entry.resource_id.clone(), old);
                    }
                }
            }
        }
        // Done copies whose object the manifests name: the pass found their records as the
        // copies wrote them, so the entry in `entries` is the one copied.
        let done: HashSet<&str> = settled
            .iter()
            .filter(|(id, p)| {
                p.settled == Some(Ok(()))
                    && entries.get(*id).is_some_and(|e| Sha256::digest(e.object_key.as_bytes())[..] == p.object_digest)
            })
            .map(|(id, _)| id.as_str())
            .collect();
        // Their rows say they were copied, in place of any row the pass gave them.
        self.rows.retain(|r| !done.contains(r.resource_id.as_str()));
        for id in done {
            let entry = &entries[id];
            self.changed.insert(id.to_owned());
            self.row(id, &entry.name, ResourceOutcome::Updated, copied_message(entry));
        }
    }

    /// A copy's row and entry: a copy that failed keeps the partner on the revision it
    /// already has, if any.
    fn copied(&mut self, copy: Copy, result: Result<(), String>, entries: &mut BTreeMap<String, ManifestEntry>) {
        let id = copy.entry.resource_id.clone();
        match result {
            Ok(()) => {
                self.row(&id, &copy.entry.name, ResourceOutcome::Updated, copied_message(&copy.entry));
                self.changed.insert(id.clone());
                entries.insert(id, copy.entry);
            }
            Err(message) => {
                self.row(&id, &copy.entry.name, ResourceOutcome::Failed, message);
                if let Some(old) = copy.before.and_then(|b| serde_json::from_str::<ManifestEntry>(&b.entry_json).ok()) {
                    entries.insert(id, old);
                }
            }
        }
    }

    /// The entries checked once more against the connection as it is now (see
    /// `withdraw_no_longer_allowed`), then the manifests written.
    async fn withdraw_and_write(
        &mut self,
        current: &Connection,
        mut entries: BTreeMap<String, ManifestEntry>,
    ) -> Result<Result<Written, ManifestsError>, PublishError> {
        self.withdraw_no_longer_allowed(current, &mut entries).await?;
        // Each entry's classification was for that check only.
        self.classification = BTreeMap::new();
        Ok(self.write_manifests(entries).await)
    }

    /// Takes out of `entries` what the connection, as re-read just before the manifests are
    /// written, no longer allows: its share is removed with the reason, its object goes
    /// after the grace period, and the manifests list it as removed.
    async fn withdraw_no_longer_allowed(
        &mut self,
        current: &Connection,
        entries: &mut BTreeMap<String, ManifestEntry>,
    ) -> Result<(), PublishError> {
        let policy = current.sending_policy(self.platform.infosec_enabled);
        let lowest = self.platform.lowest_level().order;
        let refused: Vec<(String, String)> = entries
            .keys()
            .filter_map(|id| {
                let (level, tags) = self.classification.get(id)?;
                policy.check(level, tags, lowest).err().map(|why| (id.clone(), why.to_string()))
            })
            .collect();
        // Their rows say why they left, not that they were copied a moment ago.
        let ids: HashSet<&str> = refused.iter().map(|(id, _)| id.as_str()).collect();
        self.rows.retain(|r| !ids.contains(r.resource_id.as_str()));
        for (resource_id, why) in refused {
            let entry = entries.remove(&resource_id).expect("refused entries come from the map");
            // Scheduled before the record naming it goes, as in collect_entries.
            let due_at = now_millis() + self.ctx.settings.object_grace.as_millis() as i64;
            self.ctx
                .repo
                .schedule_deletions(&self.setup.connection.id, std::slice::from_ref(&entry.object_key), due_at)
                .await?;
            self.ctx.repo.delete_published(&self.setup.connection.id, &resource_id).await?;
            self.changed.insert(resource_id.clone());
            self.remove_share(&resource_id, &entry.name, &format!("{why} (changed while this publish ran)")).await?;
        }
        Ok(())
    }

    async fn remove_share(&mut self, resource_id: &str, name: &str, reason: &str) -> Result<(), PublishError> {
        self.ctx.repo.remove_share(&self.setup.connection.id, resource_id, reason, now_millis()).await?;
        tracing::info!(connection_id = %self.setup.connection.id, resource_id, reason, "shared file removed from connection");
        self.row(resource_id, name, ResourceOutcome::Removed, format!("removed from the connection: {reason}"));
        Ok(())
    }

    fn row(&mut self, resource_id: &str, name: &str, outcome: ResourceOutcome, message: String) {
        self.rows.push(ResourceRow { resource_id: resource_id.to_owned(), name: name.to_owned(), outcome, message });
    }
}

fn copied_message(entry: &ManifestEntry) -> String {
    format!("published revision {} ({} bytes)", entry.revision_id, entry.size)
}

/// Records a revision copied into the outbox. The object it replaces is scheduled for
/// deletion before the record naming it is replaced, so a run that stops anywhere after
/// leaves no object that nothing names.
async fn record_copy(
    ctx: &Context,
    connection_id: &str,
    replaces: Option<&str>,
    record: &PublishedEntry,
) -> Result<(), PublishError> {
    if let Some(old) = replaces {
        let due_at = now_millis() + ctx.settings.object_grace.as_millis() as i64;
        ctx.repo.schedule_deletions(connection_id, &[old.to_owned()], due_at).await?;
    }
    ctx.repo.put_published(record).await?;
    Ok(())
}
