use rand::{distributions::Alphanumeric, Rng};
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

/// A fresh identifier, in UUID form (version 8, hyphenated).
///
/// Ids made one after another sort together: each process draws a random prefix once and
/// counts up behind it, in the low 40 bits, from a random start. Every large table here is
/// keyed by file, and an index takes such ids at one edge instead of anywhere, so the
/// 100,000th file of a connection is inserted at the cost of the 10th; random ids make each
/// insert read and write pages all over a B-tree larger than the cache. They hold no clock:
/// two ids of one process tell only their order and how many ids the process made between
/// them. The prefix keeps 82 random bits, so processes never meet.
pub fn new_id() -> String {
    static SEQUENCE: OnceLock<(u128, AtomicU64)> = OnceLock::new();
    let (prefix, next) = SEQUENCE.get_or_init(|| {
        let mut rng = rand::thread_rng();
        // Half the counter's room is left ahead, a trillion ids at the least.
        (rng.gen(), AtomicU64::new(rng.gen_range(0..COUNTER_SPAN / 2)))
    });
    ordered_uuid(*prefix, next.fetch_add(1, Ordering::Relaxed))
}

/// The counter's room in an ordered id: its low 40 bits.
const COUNTER_SPAN: u64 = 1 << 40;
/// The bits of an ordered id above its counter.
const PREFIX_MASK: u128 = !(COUNTER_SPAN as u128 - 1);

fn ordered_uuid(prefix: u128, counter: u64) -> String {
    let value = (prefix & PREFIX_MASK) | u128::from(counter % COUNTER_SPAN);
    uuid::Builder::from_custom_bytes(value.to_be_bytes()).into_uuid().to_string()
}

/// The prefix and counter of an id `new_id` made, if `id` is one.
fn ordered_parts(id: &str) -> Option<(u128, u64)> {
    let uuid = uuid::Uuid::try_parse(id).ok()?;
    if uuid.get_version_num() != 8 || uuid.get_variant() != uuid::Variant::RFC4122 || uuid.to_string() != id {
        return None;
    }
    let value = uuid.as_u128();
    Some((value & PREFIX_MASK, (value & !PREFIX_MASK) as u64))
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

/// The local id of what a partner calls `remote` through connection `scope`. The same pair
/// always gives the same id, so a remote file arriving twice lands on the same local one
/// (idempotent ingest). A remote id in `new_id`'s form keeps its order among its process's
/// ids, behind a prefix and an offset hashed from the scope and the remote prefix, so a
/// receiver's tables fill at one edge as the sender's do; another connection's ids share
/// nothing with them but chance (82 bits of prefix). Any other remote id is hashed whole.
pub fn derived_id(scope: &str, remote: &str) -> String {
    use sha2::{Digest, Sha256};
    let mut hasher = Sha256::new();
    let mut add = |part: &[u8]| {
        hasher.update((part.len() as u64).to_be_bytes());
        hasher.update(part);
    };
    add(scope.as_bytes());
    let ordered = ordered_parts(remote);
    match ordered {
        Some((prefix, _)) => add(&prefix.to_be_bytes()),
        None => add(remote.as_bytes()),
    }
    let digest = hasher.finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    if let Some((_, counter)) = ordered {
        let mut offset = [0u8; 8];
        offset.copy_from_slice(&digest[16..24]);
        return ordered_uuid(u128::from_be_bytes(bytes), counter.wrapping_add(u64::from_be_bytes(offset)));
    }
    // Mark it as a name-based UUID so it is a well-formed one.
    bytes[6] = (bytes[6] & 0x0f) | 0x50;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    uuid::Uuid::from_bytes(bytes).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

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
        let a = derived_id("conn", "res");
        assert_eq!(a, derived_id("conn", "res"));
        assert_ne!(a, derived_id("con", "nres"), "part boundaries count");
        let parsed = uuid::Uuid::parse_str(&a).unwrap();
        assert_eq!(parsed.get_version_num(), 5);
    }

    #[test]
    fn new_ids_are_unique_well_formed_and_in_order() {
        let ids: Vec<String> = (0..1000).map(|_| new_id()).collect();
        assert!(ids.windows(2).all(|w| w[0] < w[1]), "each id sorts after the one before");
        for id in &ids {
            assert_eq!(uuid::Uuid::parse_str(id).unwrap().get_version_num(), 8);
        }
    }

    #[test]
    fn derived_ids_of_ordered_remotes_keep_their_order_and_stay_apart() {
        let remotes: Vec<String> = (0..1000).map(|_| new_id()).collect();
        let local: Vec<String> = remotes.iter().map(|r| derived_id("conn", r)).collect();
        let rising = local.windows(2).filter(|w| w[0] < w[1]).count();
        assert!(rising >= local.len() - 2, "order kept but at most one wrap: {rising}");
        assert_eq!(local.iter().collect::<HashSet<_>>().len(), local.len(), "distinct remotes, distinct ids");
        let elsewhere = derived_id("other", &remotes[0]);
        assert_ne!(elsewhere, local[0], "another connection, another id");
        assert_ne!(&elsewhere[..18], &local[0][..18], "and another prefix");
        assert!(local.iter().all(|id| !remotes.contains(id)), "no local id repeats a remote one");
    }

    #[test]
    fn ids_in_other_forms_are_hashed_whole() {
        let v4 = uuid::Uuid::new_v4().to_string();
        let upper = new_id().to_uppercase();
        for remote in [v4.as_str(), upper.as_str(), "not-a-uuid"] {
            let id = derived_id("conn", remote);
            assert_eq!(uuid::Uuid::parse_str(&id).unwrap().get_version_num(), 5, "{remote}");
        }
    }
}
