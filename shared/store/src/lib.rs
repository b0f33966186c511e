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
            let (store, leftovers) = open(config)?;
            registry.insert_named(&config.label, &config.name, store);
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

type Opened = (Arc<dyn ObjectStore>, Option<Leftovers>);

fn open(config: &StoreConfig) -> Result<Opened, StoreError> {
    let label = config.label.clone();
    match config.scheme {
        Scheme::Memory => Ok((Arc::new(InMemory::new()), None)),
        Scheme::File => {
            std::fs::create_dir_all(&config.name).map_err(|e| StoreError::Open {
                label: label.clone(),
                source: object_store::Error::Generic { store: "LocalFileSystem", source: Box::new(e) },
            })?;
            let fs = LocalFileSystem::new_with_prefix(&config.name)
                .map_err(|source| StoreError::Open { label, source })?
                .with_automatic_cleanup(true);
            Ok((Arc::new(fs), Some(Leftovers::Directory(PathBuf::from(&config.name)))))
        }
        Scheme::S3 => {
            let store = s3(config).map_err(|source| StoreError::Open { label, source })?;
            let region = config.region.clone().unwrap_or_else(|| "us-east-1".into());
            let uploads = S3Uploads::new(store.clone(), &config.name, config.endpoint_url.as_deref(), &region);
            Ok((store, Some(Leftovers::S3(uploads))))
        }
        Scheme::Wasbs => Ok((azure(config).map_err(|source| StoreError::Open { label, source })?, None)),
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

/// Whether an error means "no such object", which the documented messages call NoSuchKey.
pub fn is_not_found(error: &object_store::Error) -> bool {
    matches!(error, object_store::Error::NotFound { .. })
}

#[cfg(test)]
#[path = "lib_tests.rs"]
mod tests;
