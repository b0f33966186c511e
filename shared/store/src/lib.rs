//! Object stores by virtual name. The registry and Airlock share one configuration,
//! `FILE_SERVICE_OBJECT_STORES__<VIRTUAL_NAME>__{ACCESS_KEY,SECRET_KEY,ENDPOINT_URL,NAME,SCHEME,REGION}`,
//! so a connection names its inbox or outbox by that virtual name (its label).

use airlock_domain::failures;
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::azure::MicrosoftAzureBuilder;
use object_store::buffered::BufWriter;
use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::ObjectStore;
use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

pub use object_store;

#[cfg(any(test, feature = "testsuite"))]
pub mod contract;
mod sweep;
#[cfg(any(test, feature = "testsuite"))]
pub mod testing;
mod uploads;

pub use sweep::sweep_staging_files;
pub use uploads::{PendingUpload, S3Uploads, UploadSweepError};

const PREFIX: &str = "FILE_SERVICE_OBJECT_STORES__";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scheme {
    /// A directory on the local filesystem (`NAME` is its path): the embedded default.
    File,
    /// Process memory: tests.
    Memory,
    S3,
    Wasbs,
}

impl Scheme {
    fn parse(value: &str) -> Option<Self> {
        match value.trim().to_ascii_lowercase().as_str() {
            "file" => Some(Self::File),
            "memory" => Some(Self::Memory),
            "s3" => Some(Self::S3),
            "wasbs" => Some(Self::Wasbs),
            _ => None,
        }
    }
}

/// One store's settings. Keys are optional: without them the platform's identity
/// (pod identity, default credential chain) is used.
#[derive(Clone, PartialEq, Eq)]
pub struct StoreConfig {
    pub label: String,
    pub scheme: Scheme,
    pub name: String,
    pub endpoint_url: Option<String>,
    pub region: Option<String>,
    pub access_key: Option<String>,
    pub secret_key: Option<String>,
}

impl fmt::Debug for StoreConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoreConfig")
            .field("label", &self.label)
            .field("scheme", &self.scheme)
            .field("name", &self.name)
            .field("endpoint_url", &self.endpoint_url)
            .field("region", &self.region)
            .field("access_key", &self.access_key.as_ref().map(|_| "<set>"))
            .field("secret_key", &self.secret_key.as_ref().map(|_| "<set>"))
            .finish()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The documented text: a connection names a store that isn't configured.
    #[error("{}", failures::bucket_not_configured(.0))]
    NotConfigured(String),
    #[error("object store '{label}': {field} is missing ({PREFIX}{label}__{field})")]
    MissingField { label: String, field: &'static str },
    #[error("object store '{label}': scheme '{scheme}' is not one of s3, wasbs, file, memory")]
    UnknownScheme { label: String, scheme: String },
    #[error("object store '{label}': could not open: {source}")]
    Open { label: String, source: object_store::Error },
}

/// Reads every `FILE_SERVICE_OBJECT_STORES__*` variable into per-label configs.
pub fn configs_from_vars(vars: impl IntoIterator<Item = (String, String)>) -> Result<Vec<StoreConfig>, StoreError> {
    let mut fields: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for (key, value) in vars {
        let Some(rest) = key.strip_prefix(PREFIX) else { continue };
        let Some((label, field)) = rest.split_once("__") else { continue };
        let value = value.trim().trim_matches('"').to_owned();
        fields.entry(label.to_ascii_uppercase()).or_default().insert(field.to_ascii_uppercase(), value);
    }
    fields
        .into_iter()
        .map(|(label, mut f)| {
            let mut optional = |name: &str| f.remove(name).filter(|v| !v.is_empty());
            let scheme_text =
                optional("SCHEME").ok_or(StoreError::MissingField { label: label.clone(), field: "SCHEME" })?;
            let scheme = Scheme::parse(&scheme_text)
                .ok_or_else(|| StoreError::UnknownScheme { label: label.clone(), scheme: scheme_text.clone() })?;
            let name = optional("NAME").ok_or(StoreError::MissingField { label: label.clone(), field: "NAME" })?;
            Ok(StoreConfig {
                scheme,
                name,
                endpoint_url: optional("ENDPOINT_URL"),
                region: optional("REGION"),
                access_key: optional("ACCESS_KEY"),
                secret_key: optional("SECRET_KEY"),
                label,
            })
        })
        .collect()
}

/// The configured stores, opened once and looked up by label (case-insensitive).
#[derive(Clone, Default)]
pub struct NamedStores {
    stores: BTreeMap<String, Arc<dyn ObjectStore>>,
    /// The bucket (container, directory) each label names, to recognise a store in
    /// object-created events, which name buckets, not labels.
    buckets: BTreeMap<String, String>,
    /// Where each configured label's objects really live (scheme, endpoint, bucket or
    /// canonical directory), so that two labels for one place are recognised as one store.
    locations: BTreeMap<String, Location>,
    /// Where each configured directory or S3 label's interrupted uploads are swept.
    leftovers: BTreeMap<String, Leftovers>,
    /// The configured directory stores, for moving small objects without the store's
    /// asynchronous interface.
    directories: BTreeMap<String, Directory>,
}

/// What a writer killed mid-upload leaves behind, by backend.
#[derive(Clone, Debug)]
enum Leftovers {
    /// `<key>#<n>` staging files under the directory.
    Directory(PathBuf),
    /// Incomplete multipart uploads in the bucket.
    S3(S3Uploads),
}

/// One store's part of `NamedStores::sweep_interrupted_uploads`.
#[derive(Debug)]
pub struct SweepReport {
    pub label: String,
    /// Staging files removed or multipart uploads aborted, or why the sweep failed.
    pub result: Result<usize, String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Location {
    scheme: Scheme,
    endpoint: String,
    name: String,
}

impl Location {
    /// `None` for memory stores: each is its own place, whatever its name.
    fn of(config: &StoreConfig) -> Option<Location> {
        let name = match config.scheme {
            Scheme::Memory => return None,
            // After `open` created it, so the path resolves (symlinks, `..`, a trailing `/`).
            Scheme::File => std::fs::canonicalize(&config.name)
                .map(|p| p.to_string_lossy().into_owned())
                .unwrap_or_else(|_| config.name.trim_end_matches('/').to_owned()),
            Scheme::S3 | Scheme::Wasbs => config.name.trim().to_ascii_lowercase(),
        };
        let endpoint = config.endpoint_url.as_deref().unwrap_or("").trim().trim_end_matches('/').to_ascii_lowercase();
        Some(Location { scheme: config.scheme, endpoint, name })
    }
}

impl fmt::Debug for NamedStores {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NamedStores").field("labels", &self.labels()).finish()
    }
}

impl NamedStores {
    pub fn from_env() -> Result<Self, StoreError> {
        Self::from_configs(&configs_from_vars(std::env::vars())?)
    }

    pub fn from_configs(configs: &[StoreConfig]) -> Result<Self, StoreError> {
        let mut registry = Self::default();
        for config in configs {
            let Opened { store, leftovers, directory } = open(config)?;
            registry.insert_named(&config.label, &config.name, store);
            if let Some(directory) = directory {
                registry.directories.insert(config.label.to_ascii_uppercase(), directory);
            }
            if let Some(location) = Location::of(config) {
                registry.locations.insert(config.label.to_ascii_uppercase(), location);
            }
            if let Some(leftovers) = leftovers {
                registry.leftovers.insert(config.label.to_ascii_uppercase(), leftovers);
            }
        }
        Ok(registry)
    }

    pub fn insert(&mut self, label: &str, store: Arc<dyn ObjectStore>) {
        self.stores.insert(label.to_ascii_uppercase(), store);
        // A replaced store no longer stands for the old one's bucket.
        self.buckets.remove(&label.to_ascii_uppercase());
        self.locations.remove(&label.to_ascii_uppercase());
        self.leftovers.remove(&label.to_ascii_uppercase());
        self.directories.remove(&label.to_ascii_uppercase());
    }

    /// Adds a store together with the bucket name it stands for.
    pub fn insert_named(&mut self, label: &str, bucket: &str, store: Arc<dyn ObjectStore>) {
        self.insert(label, store);
        self.buckets.insert(label.to_ascii_uppercase(), bucket.to_owned());
    }

    /// The bucket (container, directory) of a label, when it was configured or inserted with one.
    pub fn bucket_of(&self, label: &str) -> Option<&str> {
        self.buckets.get(&label.to_ascii_uppercase()).map(String::as_str)
    }

    /// Whether two labels name the same store: the same label, or configurations that resolve
    /// to the same scheme, endpoint and bucket (or directory). Labels alone prove nothing: one
    /// bucket may be configured under several.
    pub fn same_place(&self, a: &str, b: &str) -> bool {
        let (a, b) = (a.trim().to_ascii_uppercase(), b.trim().to_ascii_uppercase());
        a == b || matches!((self.locations.get(&a), self.locations.get(&b)), (Some(x), Some(y)) if x == y)
    }

    pub fn get(&self, label: &str) -> Result<Arc<dyn ObjectStore>, StoreError> {
        self.stores.get(&label.to_ascii_uppercase()).cloned().ok_or_else(|| StoreError::NotConfigured(label.to_owned()))
    }

    pub fn labels(&self) -> Vec<String> {
        self.stores.keys().cloned().collect()
    }

    /// The directory behind a label configured with the `file` scheme; `None` for any other
    /// store, and for one replaced with `insert`, which must then be used as a store.
    pub fn directory(&self, label: &str) -> Option<Directory> {
        self.directories.get(&label.to_ascii_uppercase()).cloned()
    }

    /// The multipart uploads of a configured S3 label, to list or sweep them.
    pub fn s3_uploads(&self, label: &str) -> Option<&S3Uploads> {
        match self.leftovers.get(&label.to_ascii_uppercase()) {
            Some(Leftovers::S3(uploads)) => Some(uploads),
            _ => None,
        }
    }

    /// Removes what interrupted uploads left in every configured directory (staging files)
    /// and S3 bucket (incomplete multipart uploads) longer than `max_age` ago, once per
    /// place however many labels name it. Azure needs nothing: uncommitted blocks expire
    /// on their own after seven days.
    pub async fn sweep_interrupted_uploads(&self, max_age: Duration) -> Vec<SweepReport> {
        let mut reports = Vec::new();
        let mut swept: Vec<&Location> = Vec::new();
        for (label, leftovers) in &self.leftovers {
            if let Some(location) = self.locations.get(label) {
                if swept.contains(&location) {
                    continue;
                }
                swept.push(location);
            }
            let result = match leftovers {
                Leftovers::Directory(root) => {
                    let root = root.clone();
                    tokio::task::spawn_blocking(move || sweep_staging_files(&root, max_age))
                        .await
                        .map_err(|e| e.to_string())
                        .and_then(|r| r.map_err(|e| format!("sweeping staging files failed: {e}")))
                }
                Leftovers::S3(uploads) => uploads.sweep(max_age).await.map_err(|e| e.to_string()),
            };
            reports.push(SweepReport { label: label.clone(), result });
        }
        reports
    }
}

struct Opened {
    store: Arc<dyn ObjectStore>,
    leftovers: Option<Leftovers>,
    directory: Option<Directory>,
}

impl Opened {
    fn store(store: Arc<dyn ObjectStore>, leftovers: Option<Leftovers>) -> Self {
        Self { store, leftovers, directory: None }
    }
}

fn open(config: &StoreConfig) -> Result<Opened, StoreError> {
    let label = config.label.clone();
    match config.scheme {
        Scheme::Memory => Ok(Opened::store(Arc::new(InMemory::new()), None)),
        Scheme::File => {
            std::fs::create_dir_all(&config.name).map_err(|e| StoreError::Open {
                label: label.clone(),
                source: object_store::Error::Generic { store: "LocalFileSystem", source: Box::new(e) },
            })?;
            let fs = Arc::new(
                LocalFileSystem::new_with_prefix(&config.name)
                    .map_err(|source| StoreError::Open { label, source })?
                    .with_automatic_cleanup(true),
            );
            Ok(Opened {
                store: fs.clone(),
                leftovers: Some(Leftovers::Directory(PathBuf::from(&config.name))),
                directory: Some(Directory(fs)),
            })
        }
        Scheme::S3 => {
            let store = s3(config).map_err(|source| StoreError::Open { label, source })?;
            let region = config.region.clone().unwrap_or_else(|| "us-east-1".into());
            let uploads = S3Uploads::new(store.clone(), &config.name, config.endpoint_url.as_deref(), &region);
            Ok(Opened::store(store, Some(Leftovers::S3(uploads))))
        }
        Scheme::Wasbs => Ok(Opened::store(azure(config).map_err(|source| StoreError::Open { label, source })?, None)),
    }
}

/// S3 or an S3-compatible server. Without keys, the default AWS credential chain (pod
/// identity, instance profile, `AWS_*` variables) applies.
fn s3(config: &StoreConfig) -> Result<Arc<AmazonS3>, object_store::Error> {
    let mut builder = AmazonS3Builder::from_env()
        .with_bucket_name(&config.name)
        .with_region(config.region.clone().unwrap_or_else(|| "us-east-1".into()));
    if let Some(endpoint) = &config.endpoint_url {
        builder = builder.with_endpoint(endpoint).with_allow_http(endpoint.starts_with("http://"));
    }
    if let (Some(key), Some(secret)) = (&config.access_key, &config.secret_key) {
        builder = builder.with_access_key_id(key).with_secret_access_key(secret);
    }
    Ok(Arc::new(builder.build()?))
}

/// Azure Blob Storage: as in the registry's settings, the access key is the storage account
/// and the secret its key, the endpoint the account's blob domain (or an emulator's URL),
/// and the name the container. Without keys, Azure's default credentials apply.
fn azure(config: &StoreConfig) -> Result<Arc<dyn ObjectStore>, object_store::Error> {
    let mut builder = MicrosoftAzureBuilder::from_env().with_container_name(&config.name);
    if let Some(account) = &config.access_key {
        builder = builder.with_account(account);
    }
    if let Some(key) = &config.secret_key {
        builder = builder.with_access_key(key);
    }
    if let Some(endpoint) = &config.endpoint_url {
        builder = builder.with_endpoint(endpoint.clone()).with_allow_http(endpoint.starts_with("http://"));
    }
    Ok(Arc::new(builder.build()?))
}

/// A streaming writer that commits the object only on `shutdown()`; dropping it or
/// calling `abort()` leaves nothing behind. Large objects go up in parts.
pub fn writer(store: Arc<dyn ObjectStore>, key: &str) -> BufWriter {
    BufWriter::new(store, Path::from(key))
}

/// An object's bytes, but never more than `limit`: reading stops there whatever size the
/// store reported, so a store that claims 100 bytes and streams 256 MiB costs at most the
/// limit. Callers pass their bound + 1 to tell "exactly the bound" from "over it".
pub async fn read_at_most(result: object_store::GetResult, limit: usize) -> Result<bytes::Bytes, object_store::Error> {
    use futures::StreamExt;
    let mut stream = result.into_stream();
    let mut out = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk?;
        let room = limit - out.len();
        out.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if out.len() == limit {
            break;
        }
    }
    Ok(out.into())
}

/// Bytes a file-backed reader asks the file system for at once.
const FILE_READ_PIECE: usize = 1 << 20;

/// A streaming reader over an object's bytes. A directory store's object is read from its
/// file in 1 MiB pieces (the store's own stream reads 8 KiB at a time, each a hand-off to
/// the blocking pool); any other store's through its stream.
pub async fn reader(
    store: &Arc<dyn ObjectStore>,
    key: &str,
) -> Result<impl tokio::io::AsyncRead + Unpin + Send, object_store::Error> {
    use futures::TryStreamExt;
    use object_store::GetResultPayload;
    use std::io::{Seek, SeekFrom};
    use tokio::io::AsyncReadExt;
    let result = store.get(&Path::from(key)).await?;
    let range = result.range.clone();
    Ok(match result.payload {
        GetResultPayload::File(mut file, path) => {
            file.seek(SeekFrom::Start(range.start)).map_err(|e| object_store::Error::Generic {
                store: "file",
                source: format!("{}: {e}", path.display()).into(),
            })?;
            let len = range.end - range.start;
            // No larger than the object: a small file costs no 1 MiB buffer.
            let capacity = (len as usize).clamp(1, FILE_READ_PIECE);
            let file = tokio::fs::File::from_std(file).take(len);
            tokio_util::either::Either::Left(tokio::io::BufReader::with_capacity(capacity, file))
        }
        GetResultPayload::Stream(stream) => {
            tokio_util::either::Either::Right(tokio_util::io::StreamReader::new(stream.map_err(std::io::Error::other)))
        }
    })
}

/// The largest object callers move whole through a [`Directory`]; larger ones stream.
pub const SMALL_OBJECT: usize = 1 << 20;

/// A directory store seen as files: a whole small object is read or written with plain
/// blocking calls on the caller's thread, where the store would hand every step to the
/// blocking pool. Objects are the files where the store keeps them, so the store reads
/// them, and a replacement goes through the store's `<file>#<n>` staging files, which the
/// staging sweep knows.
#[derive(Clone, Debug)]
pub struct Directory(Arc<LocalFileSystem>);

impl Directory {
    fn file(&self, key: &str) -> Result<PathBuf, object_store::Error> {
        self.0.path_to_filesystem(&Path::from(key))
    }

    /// The object's bytes when it holds at most `limit`, `None` when it holds more (the
    /// caller streams it instead). A missing object is `NotFound`, as from the store.
    pub fn read_small(&self, key: &str, limit: usize) -> Result<Option<Vec<u8>>, object_store::Error> {
        use std::io::Read;
        let path = self.file(key)?;
        let failed = |e: std::io::Error| match e.kind() {
            std::io::ErrorKind::NotFound => object_store::Error::NotFound { path: key.to_owned(), source: e.into() },
            _ => file_error(&path, e),
        };
        let file = std::fs::File::open(&path).map_err(failed)?;
        let meta = file.metadata().map_err(failed)?;
        if meta.is_dir() {
            return Err(failed(std::io::Error::from(std::io::ErrorKind::NotFound)));
        }
        let len = meta.len();
        if len > limit as u64 {
            return Ok(None);
        }
        let mut bytes = Vec::with_capacity(len as usize);
        // A file that grew since its size was read is cut off at the bound and passed on.
        file.take(limit as u64 + 1).read_to_end(&mut bytes).map_err(failed)?;
        Ok((bytes.len() <= limit).then_some(bytes))
    }

    /// Writes the whole object. A new one is written in place, as a file created for it
    /// alone: callers name an object to readers only once `write` returned (a manifest
    /// names a copy after it settled, a received file's record is committed after its
    /// bytes), so none reads it half-written, and a writer killed midway leaves a part
    /// that the retry, finding the object there, replaces. An existing object is replaced
    /// as the store replaces it, through a staging file renamed over it, so its readers see
    /// the old object or the new one, never a part.
    pub fn write(&self, key: &str, bytes: &[u8]) -> Result<(), object_store::Error> {
        use std::io::Write;
        let path = self.file(key)?;
        match create_new(&path) {
            Ok(mut file) => file.write_all(bytes).map_err(|e| {
                let _ = std::fs::remove_file(&path);
                file_error(&path, e)
            }),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => replace(&path, bytes),
            Err(e) => Err(file_error(&path, e)),
        }
    }
}

/// Replaces a file whole: written to a staging file, closed, renamed over it.
fn replace(path: &std::path::Path, bytes: &[u8]) -> Result<(), object_store::Error> {
    use std::io::Write;
    let (mut file, staging) = staging_file(path)?;
    let written = file.write_all(bytes);
    // Closed before the rename, as the store does: some mounted file systems upload on close.
    drop(file);
    match written.and_then(|()| std::fs::rename(&staging, path)) {
        Ok(()) => Ok(()),
        Err(e) => {
            let _ = std::fs::remove_file(&staging);
            Err(file_error(path, e))
        }
    }
}

/// A new `<path>#<n>` staging file, with the lowest free `n`.
fn staging_file(path: &std::path::Path) -> Result<(std::fs::File, PathBuf), object_store::Error> {
    let mut n = 1u32;
    loop {
        let mut staging = path.as_os_str().to_owned();
        staging.push(format!("#{n}"));
        let staging = PathBuf::from(staging);
        match create_new(&staging) {
            Ok(file) => return Ok((file, staging)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => n += 1,
            Err(e) => return Err(file_error(&staging, e)),
        }
    }
}

/// A file that did not exist, created for writing, its parent directories first if missing.
fn create_new(path: &std::path::Path) -> std::io::Result<std::fs::File> {
    let open = || std::fs::OpenOptions::new().write(true).create_new(true).open(path);
    match open() {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let parent = path.parent().ok_or(e)?;
            std::fs::create_dir_all(parent)
                .map_err(|e| std::io::Error::new(e.kind(), format!("creating {}: {e}", parent.display())))?;
            open()
        }
        opened => opened,
    }
}

fn file_error(path: &std::path::Path, e: std::io::Error) -> object_store::Error {
    object_store::Error::Generic { store: "file", source: format!("{}: {e}", path.display()).into() }
}

/// Whether an error means "no such object", which the documented messages call NoSuchKey.
pub fn is_not_found(error: &object_store::Error) -> bool {
    matches!(error, object_store::Error::NotFound { .. })
}

#[cfg(test)]
#[path = "lib_tests.rs"]
mod tests;
