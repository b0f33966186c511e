//! The data directory of `airlock serve`: everything one embedded platform keeps between
//! starts (the SQLite database, the directory stores, the local issuer's key and the
//! master secret), in one place so that `airlock doctor --data-dir` reads it the same way.

use crate::pair::random_secret;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

pub const DATABASE_FILE: &str = "airlock.db";
pub const MASTER_SECRET_FILE: &str = "master-secret";
pub const ISSUER_DIR: &str = "issuer";
pub const STORES_DIR: &str = "stores";
/// The stores a data directory remembers (label → directory), so a restart without
/// `--store` flags finds the same buckets, and so does the doctor.
pub const STORES_FILE: &str = "stores.json";
pub const REGISTRY_STORE: &str = "REGISTRY";
/// Stores every data directory has unless pointed elsewhere.
pub const DEFAULT_STORES: [&str; 3] = [REGISTRY_STORE, "OUTBOX", "INBOX"];
const GENERATED_SECRET_LEN: usize = 48;

#[derive(Debug, thiserror::Error)]
pub enum DataDirError {
    #[error("data directory '{path}': {action} failed: {source}")]
    Io { path: String, action: &'static str, source: std::io::Error },
    #[error("data directory '{path}': {what}")]
    Invalid { path: String, what: String },
}

/// Where the master secret came from, for messages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SecretSource {
    Env,
    File(PathBuf),
    Generated(PathBuf),
}

impl std::fmt::Display for SecretSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Env => write!(f, "AIRLOCK_MASTER_SECRET"),
            Self::File(path) => write!(f, "{}", path.display()),
            Self::Generated(path) => write!(f, "{} (generated now)", path.display()),
        }
    }
}

#[derive(Clone, Debug)]
pub struct DataDir {
    pub root: PathBuf,
}

fn io_error<'a>(path: &'a Path, action: &'static str) -> impl FnOnce(std::io::Error) -> DataDirError + 'a {
    move |source| DataDirError::Io { path: path.display().to_string(), action, source }
}

impl DataDir {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// Creates the directory (private to this user) when it does not exist yet.
    pub fn create(root: &Path) -> Result<Self, DataDirError> {
        std::fs::create_dir_all(root).map_err(io_error(root, "creating the directory"))?;
        let root = root.canonicalize().map_err(io_error(root, "resolving the path"))?;
        set_mode(&root, 0o700).map_err(io_error(&root, "restricting its permissions"))?;
        Ok(Self { root })
    }

    pub fn database_url(&self) -> String {
        format!("sqlite://{}", self.root.join(DATABASE_FILE).display())
    }

    pub fn database_file(&self) -> PathBuf {
        self.root.join(DATABASE_FILE)
    }

    pub fn issuer_dir(&self) -> PathBuf {
        self.root.join(ISSUER_DIR)
    }

    pub fn master_secret_file(&self) -> PathBuf {
        self.root.join(MASTER_SECRET_FILE)
    }

    /// The directory a store of this data directory lives in by default.
    pub fn default_store_dir(&self, label: &str) -> PathBuf {
        self.root.join(STORES_DIR).join(label.to_ascii_lowercase())
    }

    /// The master secret kept in the directory, if any (without the trailing newline).
    pub fn stored_master_secret(&self) -> Result<Option<String>, DataDirError> {
        let path = self.master_secret_file();
        match std::fs::read_to_string(&path) {
            Ok(text) => Ok(Some(text.trim_end_matches(['\n', '\r']).to_owned())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_error(&path, "reading the master secret")(e)),
        }
    }

    /// The secret from `AIRLOCK_MASTER_SECRET` when given, else the one kept here, else a
    /// new one written with mode 0600.
    pub fn master_secret(&self, from_env: Option<String>) -> Result<(String, SecretSource), DataDirError> {
        if let Some(secret) = from_env {
            return Ok((secret, SecretSource::Env));
        }
        let path = self.master_secret_file();
        if let Some(secret) = self.stored_master_secret()? {
            return Ok((secret, SecretSource::File(path)));
        }
        let secret = random_secret(GENERATED_SECRET_LEN);
        write_private(&path, format!("{secret}\n").as_bytes()).map_err(io_error(&path, "writing the master secret"))?;
        Ok((secret, SecretSource::Generated(path)))
    }

    /// The stores this directory remembers; empty before the first start.
    pub fn remembered_stores(&self) -> Result<BTreeMap<String, PathBuf>, DataDirError> {
        let path = self.root.join(STORES_FILE);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(BTreeMap::new()),
            Err(e) => return Err(io_error(&path, "reading the store list")(e)),
        };
        serde_json::from_str(&text).map_err(|e| DataDirError::Invalid {
            path: path.display().to_string(),
            what: format!("{STORES_FILE} is not a JSON object of store label to directory: {e}"),
        })
    }

    pub fn remember_stores(&self, stores: &BTreeMap<String, PathBuf>) -> Result<(), DataDirError> {
        let path = self.root.join(STORES_FILE);
        let text = serde_json::to_string_pretty(stores).expect("a map of strings to paths serializes");
        std::fs::write(&path, text + "\n").map_err(io_error(&path, "writing the store list"))
    }

    /// The default stores, then the remembered ones, then `overrides` (labels upper-cased).
    pub fn resolve_stores(&self, overrides: &[(String, PathBuf)]) -> Result<BTreeMap<String, PathBuf>, DataDirError> {
        let mut stores: BTreeMap<String, PathBuf> =
            DEFAULT_STORES.iter().map(|label| (label.to_string(), self.default_store_dir(label))).collect();
        stores.extend(self.remembered_stores()?);
        for (label, dir) in overrides {
            stores.insert(label.to_ascii_uppercase(), dir.clone());
        }
        Ok(stores)
    }
}

/// Parses `NAME=DIR` (the `--store` flag).
pub fn parse_store(text: &str) -> Result<(String, PathBuf), String> {
    let (label, dir) =
        text.split_once('=').ok_or_else(|| format!("store '{text}' is not NAME=DIR (e.g. OUTBOX=/srv/exchange)"))?;
    let label = label.trim();
    if label.is_empty() || !label.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(format!("store name '{label}' must be letters, digits and underscores"));
    }
    if dir.trim().is_empty() {
        return Err(format!("store '{label}' names no directory"));
    }
    Ok((label.to_ascii_uppercase(), PathBuf::from(dir.trim())))
}

fn set_mode(path: &Path, mode: u32) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
    }
    #[cfg(not(unix))]
    let _ = (path, mode);
    Ok(())
}

fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    // create_new: two serves starting on one directory must not overwrite each other's secret.
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_flags_are_name_equals_dir() {
        assert_eq!(parse_store("outbox=/x/y").unwrap(), ("OUTBOX".into(), PathBuf::from("/x/y")));
        assert!(parse_store("outbox").unwrap_err().contains("is not NAME=DIR"));
        assert!(parse_store("out box=/x").unwrap_err().contains("letters, digits and underscores"));
        assert!(parse_store("OUTBOX=").unwrap_err().contains("names no directory"));
    }

    #[test]
    fn the_master_secret_is_generated_once_and_private() {
        let temp = tempfile::tempdir().unwrap();
        let dir = DataDir::create(temp.path()).unwrap();
        let (first, source) = dir.master_secret(None).unwrap();
        assert!(matches!(source, SecretSource::Generated(_)));
        assert_eq!(first.len(), GENERATED_SECRET_LEN);
        let (again, source) = dir.master_secret(None).unwrap();
        assert_eq!((again, matches!(source, SecretSource::File(_))), (first.clone(), true));
        let (env, source) = dir.master_secret(Some("e".repeat(32))).unwrap();
        assert_eq!((env.len(), source), (32, SecretSource::Env));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.master_secret_file()).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}
