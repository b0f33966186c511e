use airlock_domain::pipeline::{Change, IngestRequest, ResourceOutcome, ResourceRow};
use airlock_domain::{
    derived_id, failures, now_millis, Connection, ConnectionKind, ManifestEntry, ReceivingPolicy, Resource, Revision,
};
use airlock_protocol::{ChannelKeys, PayloadKey, StreamSummary};
use airlock_repo::{AppliedEntry, ApplyOutcome, LocalChange, ReceivedChange, RepoError};
use airlock_runtime::{Context, HandlerError};
use airlock_store::{Directory, SMALL_OBJECT};
use futures::stream::{self, StreamExt};
use std::collections::{HashMap, HashSet};
use tokio::io::AsyncWriteExt;

/// How one ingest failed. A refusal fails the resource's row for good (the Display is the
/// row's message); the rest are lower ports briefly away, worth another delivery.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("{0}")]
    Refused(String),
    #[error("connection '{0}' not found")]
    UnknownConnection(String),
    #[error(transparent)]
    Repo(#[from] RepoError),
    #[error("{0}")]
    Store(String),
    #[error("{0}")]
    Misconfigured(String),
}

impl From<IngestError> for HandlerError {
    fn from(error: IngestError) -> Self {
        match error {
            IngestError::Repo(_) | IngestError::Store(_) => HandlerError::Retryable(error.to_string()),
            IngestError::Refused(_) | IngestError::UnknownConnection(_) | IngestError::Misconfigured(_) => {
                HandlerError::Permanent(error.to_string())
            }
        }
    }
}

/// What every change of one receiving connection needs, read once per batch of changes.
pub struct Receiving {
    connection: Connection,
    policy: ReceivingPolicy,
    keys: Result<ChannelKeys, &'static str>,
}

impl Receiving {
    /// `Ok(None)` for a connection that is archived or not a receiving one.
    pub async fn load(ctx: &Context, connection_id: &str) -> Result<Option<Self>, IngestError> {
        let repo = &ctx.repo;
        let Some(connection) = repo.connection(connection_id).await? else {
            return Err(IngestError::UnknownConnection(connection_id.into()));
        };
        if connection.kind != ConnectionKind::Receiving || !connection.is_active() {
            return Ok(None);
        }
        let platform = repo.platform().await?;
        let policy = ReceivingPolicy {
            local_levels: platform.levels,
            local_max: platform.max_level,
            rules: repo.transforms(&connection.id).await?,
            active_tags: repo.active_control_tags().await?,
        };
        let keys = ctx.channel_keys(&connection).await;
        Ok(Some(Self { connection, policy, keys }))
    }
}

/// Applies one change and says how it went (see `ingest_batch`).
pub async fn ingest(ctx: &Context, request: &IngestRequest) -> Result<ResourceRow, HandlerError> {
    let receiving = Receiving::load(ctx, &request.connection_id).await?;
    let mut done = ingest_batch(ctx, receiving.as_ref(), std::slice::from_ref(request), 1).await?;
    Ok(done.rows.pop().expect("one row per change"))
}

/// What a batch did: a row per change, in order, and the bytes it stored.
pub struct Ingested {
    pub rows: Vec<ResourceRow>,
    pub stored_bytes: u64,
}

/// Where one change of a batch stands before the batch's write.
enum Step {
    /// Decided without a write: its outcome and message.
    Decided(ResourceOutcome, String),
    /// Admitted: its entry, level and tags; the download and the write are still to come.
    Admitted { applied: AppliedEntry, resource: Resource, revision_id: String, stored_message: String },
    /// To write, with the revision its download stored.
    Write(ReceivedChange, String, u64),
}

/// Applies a batch of changes of one connection (`receiving`: `None` when archived or not
/// receiving) in a fixed number of queries whatever its size: the applied entries and
/// stored revisions read at once, the downloads `concurrency` at a time, then one
/// conditional write of the lot. A refusal is a failed row; a change older than the one
/// applied is reported as superseded. `Err` is only for failures worth retrying, returned
/// after the rest of the batch is written (a retry finds those applied).
pub async fn ingest_batch(
    ctx: &Context,
    receiving: Option<&Receiving>,
    requests: &[IngestRequest],
    concurrency: usize,
) -> Result<Ingested, HandlerError> {
    let Some(receiving) = receiving else {
        let rows = failed_rows(requests, "connection is archived or not a receiving connection");
        return Ok(Ingested { rows, stored_bytes: 0 });
    };
    let repo = &ctx.repo;
    let connection = &receiving.connection;
    let remote_ids: Vec<String> = requests.iter().map(|r| r.change.resource_id().to_owned()).collect();
    let applied: HashMap<String, AppliedEntry> = repo
        .applied_entries(&connection.id, &remote_ids)
        .await
        .map_err(IngestError::from)?
        .into_iter()
        .map(|a| (a.remote_resource_id.clone(), a))
        .collect();

    let mut names = Vec::with_capacity(requests.len());
    let mut steps = Vec::with_capacity(requests.len());
    for request in requests {
        let (name, step) = match &request.change {
            Change::Upsert { entry } => {
                (entry.name.clone(), admit(receiving, request, entry, applied.get(&entry.resource_id)))
            }
            Change::Remove { resource_id } => {
                let change = withdrawal(connection, request, resource_id, applied.get(resource_id));
                (String::new(), Step::Write(change, "withdrawn by the partner".into(), 0))
            }
        };
        names.push(name);
        steps.push(step);
    }
    // A removal's row names the local copy it hides, read for all of them at once.
    let hidden = |step: &Step| match step {
        Step::Write(change, ..) if change.entry.withdrawn => Some(change.entry.local_resource_id.clone()),
        _ => None,
    };
    let hidden_ids: Vec<String> = steps.iter().filter_map(hidden).collect();
    if !hidden_ids.is_empty() {
        let local: HashMap<String, String> = repo
            .resources_of(&hidden_ids)
            .await
            .map_err(IngestError::from)?
            .into_iter()
            .map(|r| (r.id, r.name))
            .collect();
        for (name, step) in names.iter_mut().zip(&steps) {
            if let Some(name_there) = hidden(step).and_then(|id| local.get(&id)) {
                name.clone_from(name_there);
            }
        }
    }

    // Downloads only for revisions not stored yet (a retried batch stored some).
    let wanted: Vec<String> = steps
        .iter()
        .filter_map(|s| match s {
            Step::Admitted { revision_id, .. } => Some(revision_id.clone()),
            _ => None,
        })
        .collect();
    let stored: HashSet<String> =
        repo.stored_revisions(&wanted).await.map_err(IngestError::from)?.into_iter().collect();
    let downloads: Vec<_> = steps
        .into_iter()
        .zip(requests)
        .map(|(step, request)| Box::pin(fetch(ctx, receiving, request, step, &stored)))
        .collect();
    let fetched: Vec<Result<Step, IngestError>> = stream::iter(downloads).buffered(concurrency.max(1)).collect().await;

    let mut retry = None;
    let mut steps = Vec::with_capacity(fetched.len());
    for result in fetched {
        steps.push(match result {
            Ok(step) => step,
            // The failed row keeps the sync from recording the shard as applied, so the
            // next sync offers the entry again.
            Err(IngestError::Refused(message)) => Step::Decided(ResourceOutcome::Failed, message),
            Err(e) => {
                retry.get_or_insert(e);
                Step::Decided(ResourceOutcome::Failed, String::new())
            }
        });
    }
    let writes: Vec<ReceivedChange> = steps
        .iter()
        .filter_map(|s| match s {
            Step::Write(change, ..) => Some(change.clone()),
            _ => None,
        })
        .collect();
    let mut outcomes = repo.apply_changes(&writes).await.map_err(IngestError::from)?.into_iter();
    if let Some(e) = retry {
        return Err(e.into());
    }

    let mut stored_bytes = 0;
    let rows = steps
        .into_iter()
        .zip(requests)
        .zip(names)
        .map(|((step, request), name)| {
            let (outcome, message) = match step {
                Step::Decided(outcome, message) => (outcome, message),
                Step::Admitted { .. } => unreachable!("every admitted change was fetched"),
                Step::Write(change, message, bytes) => {
                    match outcomes.next().expect("one outcome per write") {
                        ApplyOutcome::Applied | ApplyOutcome::Current => {
                            stored_bytes += bytes;
                            let outcome = match change.change {
                                LocalChange::Upsert { .. } => ResourceOutcome::Updated,
                                LocalChange::Withdraw { .. } => ResourceOutcome::Removed,
                            };
                            (outcome, message)
                        }
                        // Not a failure: the newer change is (or will be) reported by its own ingest.
                        ApplyOutcome::Superseded { by } => {
                            (ResourceOutcome::Unchanged, format!("superseded by sequence {by}"))
                        }
                    }
                }
            };
            row(request, name, outcome, message)
        })
        .collect();
    Ok(Ingested { rows, stored_bytes })
}

fn row(request: &IngestRequest, name: String, outcome: ResourceOutcome, message: String) -> ResourceRow {
    ResourceRow { resource_id: request.change.resource_id().into(), name, outcome, message }
}

/// A failed row for each change, all for one reason.
pub fn failed_rows(requests: &[IngestRequest], why: &str) -> Vec<ResourceRow> {
    requests.iter().map(|r| row(r, r.change.name().into(), ResourceOutcome::Failed, why.into())).collect()
}

/// Decides an upsert as far as it can be without its bytes: superseded by what is applied,
/// a redelivery of it, refused by the receiving policy, or admitted.
fn admit(
    receiving: &Receiving,
    request: &IngestRequest,
    entry: &ManifestEntry,
    applied: Option<&AppliedEntry>,
) -> Step {
    let connection = &receiving.connection;
    let local_id = local_id_of(connection, &entry.resource_id, applied);
    let revision_id = derived_id(&connection.id, &entry.revision_id);
    let stored_message = format!("stored revision {} ({} bytes) as {local_id}", entry.revision_id, entry.size);
    let digest = entry.digest();
    if let Some(applied) = applied {
        if applied.sequence > request.sequence {
            // Newer content is there already: not even worth the download.
            return Step::Decided(ResourceOutcome::Unchanged, format!("superseded by sequence {}", applied.sequence));
        }
        if applied.sequence == request.sequence && applied.entry_digest == digest && !applied.withdrawn {
            // A redelivery of a change already applied: report it the same way, change nothing.
            return Step::Decided(ResourceOutcome::Updated, stored_message);
        }
    }
    let (level, tags) = match receiving.policy.admit(entry) {
        Ok(admitted) => admitted,
        Err(e) => return Step::Decided(ResourceOutcome::Failed, e.to_string()),
    };
    let resource = Resource {
        id: local_id.clone(),
        name: entry.name.clone(),
        // Received files belong to their connection; its owners see them through it.
        owner_id: format!("connection:{}", connection.id),
        level,
        tags,
        origin_connection_id: Some(connection.id.clone()),
        created_at: now_millis(),
        withdrawn_at: None,
    };
    let applied = AppliedEntry {
        connection_id: connection.id.clone(),
        remote_resource_id: entry.resource_id.clone(),
        shard: request.shard,
        entry_digest: digest,
        local_resource_id: local_id,
        sequence: request.sequence,
        withdrawn: false,
    };
    Step::Admitted { applied, resource, revision_id, stored_message }
}

/// Downloads an admitted upsert's revision unless it is stored already; other steps pass.
async fn fetch(
    ctx: &Context,
    receiving: &Receiving,
    request: &IngestRequest,
    step: Step,
    stored: &HashSet<String>,
) -> Result<Step, IngestError> {
    let Step::Admitted { applied, resource, revision_id, stored_message } = step else {
        return Ok(step);
    };
    let Change::Upsert { entry } = &request.change else {
        unreachable!("only upserts are admitted");
    };
    let mut revision = None;
    let mut bytes = 0;
    if !stored.contains(&revision_id) {
        let keys = receiving.keys.as_ref().map_err(|message| IngestError::Refused((*message).into()))?;
        let blob_key = format!("blobs/{revision_id}");
        download(ctx, &receiving.connection, keys, entry, &blob_key).await?;
        revision = Some(Revision {
            id: revision_id.clone(),
            resource_id: resource.id.clone(),
            size: entry.size,
            sha256: entry.sha256.clone(),
            blob_key,
            created_at: now_millis(),
        });
        bytes = entry.size;
    }
    // The download may have taken long: only in the batch's conditional write is it
    // decided whether this change is still the newest.
    let change = LocalChange::Upsert { resource, revision_id };
    Ok(Step::Write(ReceivedChange { entry: applied, change, revision }, stored_message, bytes))
}

/// Streams, decrypts and verifies the object into the registry store. The registry copy
/// is committed only when every chunk authenticated and size and checksum match.
async fn download(
    ctx: &Context,
    connection: &Connection,
    keys: &ChannelKeys,
    entry: &ManifestEntry,
    blob_key: &str,
) -> Result<(), IngestError> {
    let inbox = ctx.stores.get(&connection.store_label).map_err(|e| IngestError::Refused(e.to_string()))?;
    let directories =
        ctx.stores.directory(&connection.store_label).zip(ctx.stores.directory(&ctx.settings.registry_store));
    if let Some((inbox, registry)) = directories.filter(|_| entry.size <= SMALL_OBJECT as u64) {
        let key = keys.payload_key(&entry.revision_id);
        let (entry, blob_key, label) = (entry.clone(), blob_key.to_owned(), connection.store_label.clone());
        let whole =
            tokio::task::spawn_blocking(move || receive_whole(&inbox, &registry, &key, &entry, &blob_key, &label));
        match whole.await.map_err(|e| IngestError::Store(format!("the download stopped: {e}")))? {
            Ok(true) => return Ok(()),
            // Larger than a small file's payload: the stream finds out what it holds.
            Ok(false) => {}
            Err(e) => return Err(e),
        }
    }
    let source = match airlock_store::reader(&inbox, &entry.object_key).await {
        Ok(source) => source,
        Err(e) => return Err(read_failed(e, entry, &connection.store_label)),
    };
    let registry = ctx.registry_store().map_err(|e| IngestError::Misconfigured(e.to_string()))?;
    let mut sink = airlock_store::writer(registry, blob_key);
    let key = keys.payload_key(&entry.revision_id);
    let refuse = |why: String| refused(entry, why);
    let summary = match airlock_protocol::decrypt_stream(&key, source, &mut sink).await {
        Ok(summary) => summary,
        Err(airlock_protocol::PayloadError::Io(e)) => {
            let _ = sink.abort().await;
            return Err(IngestError::Store(format!("payload i/o failed: {e}")));
        }
        Err(e) => {
            let _ = sink.abort().await;
            return Err(refuse(e.to_string()));
        }
    };
    if let Err(e) = matches_manifest(&summary, entry) {
        let _ = sink.abort().await;
        return Err(e);
    }
    sink.shutdown().await.map_err(store_failed)
}

/// Receives a small revision whole on this thread: read, opened and verified, and only then
/// written to the registry. `Ok(false)`: the object is too large for that, nothing written.
fn receive_whole(
    inbox: &Directory,
    registry: &Directory,
    key: &PayloadKey,
    entry: &ManifestEntry,
    blob_key: &str,
    store_label: &str,
) -> Result<bool, IngestError> {
    // A sealed small file is its plaintext plus a header and a tag per chunk: twice the
    // bound holds any chunk size, and still bounds what a partner's object costs.
    let sealed = match inbox.read_small(&entry.object_key, 2 * SMALL_OBJECT) {
        Ok(Some(sealed)) => sealed,
        Ok(None) => return Ok(false),
        Err(e) => return Err(read_failed(e, entry, store_label)),
    };
    // Bytes in memory fail no i/o: every error is the payload's own.
    let (plain, summary) = airlock_protocol::decrypt_bytes(key, &sealed).map_err(|e| refused(entry, e.to_string()))?;
    matches_manifest(&summary, entry)?;
    registry.write(blob_key, &plain).map_err(store_failed)?;
    Ok(true)
}

/// A failed read of the object the manifest names: the documented NoSuchKey refusal when
/// it is missing, else worth another delivery.
fn read_failed(e: airlock_store::object_store::Error, entry: &ManifestEntry, store_label: &str) -> IngestError {
    if airlock_store::is_not_found(&e) {
        return IngestError::Refused(failures::properties_read_failed(format!(
            "NoSuchKey: the object '{}' named in the manifest does not exist in store '{store_label}'",
            entry.object_key
        )));
    }
    IngestError::Store(format!("reading '{}' failed: {e}", entry.object_key))
}

fn refused(entry: &ManifestEntry, why: String) -> IngestError {
    IngestError::Refused(format!("{why} (resource {}, object '{}')", entry.resource_id, entry.object_key))
}

fn store_failed(e: impl std::fmt::Display) -> IngestError {
    IngestError::Store(format!("storing the received file failed: {e}"))
}

/// Whether what was decrypted is what the manifest promised.
fn matches_manifest(summary: &StreamSummary, entry: &ManifestEntry) -> Result<(), IngestError> {
    if summary.plain_size != entry.size || summary.sha256 != entry.sha256 {
        return Err(refused(
            entry,
            format!(
                "payload rejected: content does not match the manifest (size {} vs {}, sha256 {} vs {})",
                summary.plain_size, entry.size, summary.sha256, entry.sha256
            ),
        ));
    }
    Ok(())
}

/// The local id of a remote resource: the one it was given when first applied, else the
/// one derived from it.
fn local_id_of(connection: &Connection, remote_id: &str, applied: Option<&AppliedEntry>) -> String {
    applied.map_or_else(|| derived_id(&connection.id, remote_id), |applied| applied.local_resource_id.clone())
}

/// The removal of a resource the partner withdrew: its local copy is hidden unless a
/// newer change for it was applied.
fn withdrawal(
    connection: &Connection,
    request: &IngestRequest,
    remote_id: &str,
    applied: Option<&AppliedEntry>,
) -> ReceivedChange {
    let tombstone = AppliedEntry {
        connection_id: connection.id.clone(),
        remote_resource_id: remote_id.into(),
        shard: request.shard,
        entry_digest: String::new(),
        local_resource_id: local_id_of(connection, remote_id, applied),
        sequence: request.sequence,
        withdrawn: true,
    };
    ReceivedChange { entry: tombstone, change: LocalChange::Withdraw { at: now_millis() }, revision: None }
}
