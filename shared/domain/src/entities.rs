use crate::classification::{Clearance, InfosecLevel, TagSet};
use crate::policy::SendingPolicy;
use crate::Millis;
use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    pub id: String,
    pub name: String,
    pub clearance: Clearance,
}

/// A file in the registry. `origin_connection_id` is set for files that arrived through a
/// receiving connection; its owners get view access to them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resource {
    pub id: String,
    pub name: String,
    pub owner_id: String,
    pub level: InfosecLevel,
    pub tags: TagSet,
    pub origin_connection_id: Option<String>,
    pub created_at: Millis,
    /// Set when the partner withdrew the file; it is then hidden from everyone.
    pub withdrawn_at: Option<Millis>,
}

/// The longest file name, in bytes, a local upload or a partner's manifest may carry.
pub const MAX_FILE_NAME_BYTES: usize = 255;

/// A file name as the registry stores it, whoever chose it (a local uploader or a partner):
/// not empty, at most `MAX_FILE_NAME_BYTES`, no control characters, and no path separators,
/// so that a name can never climb out of a directory it is saved into.
pub fn validate_file_name(name: &str) -> Result<(), String> {
    let bad = name.trim().is_empty()
        || name.len() > MAX_FILE_NAME_BYTES
        || name.chars().any(|c| c.is_control() || c == '/' || c == '\\');
    if bad {
        return Err(crate::failures::bad_file_name(name));
    }
    Ok(())
}

/// An immutable version of a resource's content, stored at `blob_key` in the registry store.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Revision {
    pub id: String,
    pub resource_id: String,
    pub size: u64,
    pub sha256: String,
    pub blob_key: String,
    pub created_at: Millis,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConnectionKind {
    Sending,
    Receiving,
}

impl ConnectionKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sending => "sending",
            Self::Receiving => "receiving",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "sending" => Some(Self::Sending),
            "receiving" => Some(Self::Receiving),
            _ => None,
        }
    }
}

impl fmt::Display for ConnectionKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The health of a connection's most recent finished sync.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Health {
    Success,
    Degraded,
    Failure,
}

impl Health {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Degraded => "degraded",
            Self::Failure => "failure",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "success" => Some(Self::Success),
            "degraded" => Some(Self::Degraded),
            "failure" => Some(Self::Failure),
            _ => None,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Connection {
    pub id: String,
    pub kind: ConnectionKind,
    pub name: String,
    pub description: String,
    pub shared_id: String,
    /// Virtual name of the object store (outbox for sending, inbox for receiving).
    pub store_label: String,
    /// The shared secret, encrypted under the master key; never returned to clients.
    #[serde(skip_serializing)]
    pub wrapped_secret: String,
    /// Sending only.
    pub permitted_level: Option<InfosecLevel>,
    /// Sending only.
    pub permitted_tags: TagSet,
    pub shard_count: u32,
    pub created_at: Millis,
    pub archived_at: Option<Millis>,
    pub health: Option<Health>,
}

impl Connection {
    pub fn is_active(&self) -> bool {
        self.archived_at.is_none()
    }

    pub fn sending_policy(&self, infosec_enabled: bool) -> SendingPolicy {
        SendingPolicy {
            infosec_enabled,
            permitted_level: self.permitted_level.clone(),
            permitted_tags: self.permitted_tags.clone(),
        }
    }
}

/// The platform's classification scale and switches.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlatformSettings {
    pub infosec_enabled: bool,
    /// Every level the platform knows, any order.
    pub levels: Vec<InfosecLevel>,
    /// The highest level this platform may hold.
    pub max_level: InfosecLevel,
}

impl PlatformSettings {
    pub fn lowest_level(&self) -> InfosecLevel {
        self.levels.iter().min().cloned().unwrap_or_else(|| self.max_level.clone())
    }

    pub fn level_by_name(&self, name: &str) -> Option<&InfosecLevel> {
        self.levels.iter().find(|l| l.name == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_are_refused_when_empty_long_with_control_characters_or_separators() {
        assert_eq!(validate_file_name("wing spar (rev B).step"), Ok(()));
        assert_eq!(validate_file_name(&"é".repeat(127)), Ok(()), "254 bytes");
        for bad in ["", "  ", "a\nb", "bell\u{7}", "../etc/passwd", "dir/file", "c:\\x", &"x".repeat(256)] {
            let err = validate_file_name(bad).unwrap_err();
            assert_eq!(err, crate::failures::bad_file_name(bad), "{bad:?}");
        }
        assert!(crate::failures::bad_file_name("a/b").starts_with("file name 'a/b' is empty, longer than 255 bytes,"));
    }
}
