use rand::{distributions::Alphanumeric, Rng};
use std::fmt;

/// A fresh random identifier (UUID v4, hyphenated).
pub fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

const SHARED_ID_MAX_LEN: usize = 120;
const SUFFIX_LEN: usize = 8;

/// The public name of a channel, `[A-Za-z0-9._-]+`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct SharedId(String);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SharedIdError {
    #[error("shared ID is empty")]
    Empty,
    #[error("shared ID '{0}' has characters other than letters, digits, '.', '-' and '_'")]
    BadCharacters(String),
    #[error("shared ID is {0} characters long, more than the {SHARED_ID_MAX_LEN} allowed")]
    TooLong(usize),
}

impl SharedId {
    pub fn parse(value: &str) -> Result<Self, SharedIdError> {
        if value.is_empty() {
            return Err(SharedIdError::Empty);
        }
        if value.len() > SHARED_ID_MAX_LEN {
            return Err(SharedIdError::TooLong(value.len()));
        }
        if !value.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_')) {
            return Err(SharedIdError::BadCharacters(value.to_owned()));
        }
        Ok(Self(value.to_owned()))
    }

    /// What a new sending connection gets: the chosen name plus a random suffix, so two
    /// partners that pick the same name never share a channel by accident.
    pub fn with_random_suffix(base: &str) -> Result<Self, SharedIdError> {
        let base = Self::parse(base)?;
        let suffix: String = rand::thread_rng()
            .sample_iter(&Alphanumeric)
            .take(SUFFIX_LEN)
            .map(|b| (b as char).to_ascii_lowercase())
            .collect();
        Self::parse(&format!("{}-{suffix}", base.0))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for SharedId {
    type Error = SharedIdError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<SharedId> for String {
    fn from(id: SharedId) -> Self {
        id.0
    }
}

impl fmt::Display for SharedId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A stable identifier derived from its parts, so that the same remote resource arriving
/// twice through the same connection lands on the same local id (idempotent ingest).
pub fn derived_id(parts: &[&str]) -> String {
    use sha2::{Digest, Sha256};
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update((part.len() as u64).to_be_bytes());
        hasher.update(part.as_bytes());
    }
    let digest = hasher.finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    // Mark it as a name-based UUID so it is a well-formed one.
    bytes[6] = (bytes[6] & 0x0f) | 0x50;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    uuid::Uuid::from_bytes(bytes).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_letters_digits_dot_dash_underscore() {
        assert!(SharedId::parse("acme.partner_link-01").is_ok());
    }

    #[test]
    fn refuses_spaces_slashes_and_empty() {
        assert_eq!(SharedId::parse(""), Err(SharedIdError::Empty));
        assert!(matches!(SharedId::parse("a b"), Err(SharedIdError::BadCharacters(_))));
        assert!(matches!(SharedId::parse("a/b"), Err(SharedIdError::BadCharacters(_))));
        assert!(matches!(SharedId::parse(&"x".repeat(200)), Err(SharedIdError::TooLong(200))));
    }

    #[test]
    fn suffix_keeps_the_base_and_makes_ids_unique() {
        let a = SharedId::with_random_suffix("acme").unwrap();
        let b = SharedId::with_random_suffix("acme").unwrap();
        assert!(a.as_str().starts_with("acme-"));
        assert_eq!(a.as_str().len(), "acme-".len() + SUFFIX_LEN);
        assert_ne!(a, b);
        assert!(SharedId::with_random_suffix("bad id").is_err());
    }

    #[test]
    fn derived_ids_are_stable_well_formed_and_unambiguous() {
        let a = derived_id(&["conn", "res"]);
        assert_eq!(a, derived_id(&["conn", "res"]));
        assert_ne!(a, derived_id(&["con", "nres"]), "part boundaries count");
        let parsed = uuid::Uuid::parse_str(&a).unwrap();
        assert_eq!(parsed.get_version_num(), 5);
    }
}
