use serde::{Deserialize, Serialize};
use std::cmp::Ordering;
use std::collections::BTreeSet;
use std::fmt;

/// A set of control tags, kept sorted so that it serializes and compares deterministically.
pub type TagSet = BTreeSet<String>;

/// An ordered classification: only `order` decides which level is higher; the name is for people.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct InfosecLevel {
    pub name: String,
    pub order: i64,
}

impl InfosecLevel {
    pub fn new(name: impl Into<String>, order: i64) -> Self {
        Self { name: name.into(), order }
    }
}

impl PartialOrd for InfosecLevel {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for InfosecLevel {
    fn cmp(&self, other: &Self) -> Ordering {
        self.order.cmp(&other.order).then_with(|| self.name.cmp(&other.name))
    }
}

impl fmt::Display for InfosecLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "'{}' (order={})", self.name, self.order)
    }
}

/// What a user holds: a level and control tags.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Clearance {
    pub level: InfosecLevel,
    pub tags: TagSet,
}

impl Clearance {
    /// A user sees a file only with a level at least the file's and every tag the file carries.
    /// Nothing else (ownership, connection membership) lifts this.
    pub fn permits(&self, level: &InfosecLevel, tags: &TagSet) -> bool {
        self.level.order >= level.order && tags.is_subset(&self.tags)
    }
}

/// Joins tags for messages: `ITAR, PROJECT-X`.
pub fn join_tags<'a>(tags: impl IntoIterator<Item = &'a String>) -> String {
    tags.into_iter().map(String::as_str).collect::<Vec<_>>().join(", ")
}

/// A control tag name: non-empty, printable, no commas (they separate tags in messages).
pub fn validate_tag(tag: &str) -> Result<(), String> {
    if tag.trim().is_empty() {
        return Err("control tag is empty".into());
    }
    if tag.len() > 100 {
        return Err(format!("control tag '{tag}' is longer than 100 characters"));
    }
    if tag.chars().any(|c| c.is_control() || c == ',') {
        return Err(format!("control tag '{tag}' contains a comma or a control character"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(list: &[&str]) -> TagSet {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn order_not_name_decides() {
        assert!(InfosecLevel::new("A-LOW", 1) < InfosecLevel::new("Z-HIGH", 2));
        assert!(InfosecLevel::new("Z", 1) < InfosecLevel::new("A", 5));
    }

    #[test]
    fn clearance_needs_level_and_every_tag() {
        let user = Clearance { level: InfosecLevel::new("SECRET", 3), tags: tags(&["ITAR"]) };
        assert!(user.permits(&InfosecLevel::new("CONF", 2), &tags(&["ITAR"])));
        assert!(user.permits(&InfosecLevel::new("SECRET", 3), &tags(&[])));
        assert!(!user.permits(&InfosecLevel::new("TOP", 4), &tags(&[])));
        assert!(!user.permits(&InfosecLevel::new("CONF", 2), &tags(&["ITAR", "EXPORT-CTRL"])));
    }

    #[test]
    fn tag_validation_refuses_empty_and_commas() {
        assert!(validate_tag("ITAR").is_ok());
        assert!(validate_tag(" ").is_err());
        assert!(validate_tag("A,B").is_err());
    }
}
