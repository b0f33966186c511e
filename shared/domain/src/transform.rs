use crate::classification::{join_tags, TagSet};
use serde::{Deserialize, Serialize};

/// What a rule does to the control tags of a resource passing through a connection.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum RuleKind {
    /// Always stamps `value` onto every synced resource.
    Add { value: String },
    /// Always strips `predicate` from every synced resource.
    Remove { predicate: String },
    /// Replaces `predicate` with `value`.
    Map { predicate: String, value: String },
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransformRule {
    pub id: String,
    #[serde(flatten)]
    pub kind: RuleKind,
    pub description: String,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TransformError {
    #[error("transform rule {0} has no description; every rule must say why it exists")]
    MissingDescription(String),
    #[error("transform rule {rule}: {role} '{tag}' is not one of the allowed tags ({allowed})")]
    TagNotAllowed { rule: String, role: &'static str, tag: String, allowed: String },
}

impl TransformRule {
    pub fn predicate(&self) -> Option<&str> {
        match &self.kind {
            RuleKind::Remove { predicate } | RuleKind::Map { predicate, .. } => Some(predicate),
            RuleKind::Add { .. } => None,
        }
    }

    pub fn value(&self) -> Option<&str> {
        match &self.kind {
            RuleKind::Add { value } | RuleKind::Map { value, .. } => Some(value),
            RuleKind::Remove { .. } => None,
        }
    }
}

/// Applies rules in the fixed order removes, then maps, then adds, whatever order they
/// were listed in, so that an admin can reason about each kind on its own.
pub fn apply(rules: &[TransformRule], tags: &TagSet) -> TagSet {
    let mut out = tags.clone();
    for rule in rules {
        if let RuleKind::Remove { predicate } = &rule.kind {
            out.remove(predicate);
        }
    }
    let mut mapped = TagSet::new();
    let mut consumed = TagSet::new();
    for rule in rules {
        if let RuleKind::Map { predicate, value } = &rule.kind {
            if out.contains(predicate) {
                consumed.insert(predicate.clone());
                mapped.insert(value.clone());
            }
        }
    }
    out.retain(|t| !consumed.contains(t));
    out.extend(mapped);
    for rule in rules {
        if let RuleKind::Add { value } = &rule.kind {
            out.insert(value.clone());
        }
    }
    out
}

/// Incoming tags that no remove or map rule takes care of; a receiving sync that meets one fails.
pub fn uncovered(rules: &[TransformRule], incoming: &TagSet) -> TagSet {
    incoming.iter().filter(|tag| !rules.iter().any(|r| r.predicate() == Some(tag.as_str()))).cloned().collect()
}

/// Checks rules before they are saved: each has a description, predicates come from
/// `predicates_from` and values from `values_from` (for a sending connection both are its
/// permitted tags; for a receiving one, the partner's incoming tags and the active local tags).
/// `predicates_from: None` skips the predicate check (incoming tags not seen yet).
pub fn validate(
    rules: &[TransformRule],
    predicates_from: Option<&TagSet>,
    values_from: &TagSet,
) -> Result<(), TransformError> {
    for rule in rules {
        if rule.description.trim().is_empty() {
            return Err(TransformError::MissingDescription(rule.id.clone()));
        }
        if let (Some(tag), Some(allowed)) = (rule.predicate(), predicates_from) {
            if !allowed.contains(tag) {
                return Err(TransformError::TagNotAllowed {
                    rule: rule.id.clone(),
                    role: "predicate",
                    tag: tag.to_owned(),
                    allowed: join_tags(allowed),
                });
            }
        }
        if let Some(tag) = rule.value() {
            if !values_from.contains(tag) {
                return Err(TransformError::TagNotAllowed {
                    rule: rule.id.clone(),
                    role: "value",
                    tag: tag.to_owned(),
                    allowed: join_tags(values_from),
                });
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(list: &[&str]) -> TagSet {
        list.iter().map(|s| s.to_string()).collect()
    }

    fn rule(kind: RuleKind) -> TransformRule {
        TransformRule { id: "r".into(), kind, description: "why".into() }
    }

    #[test]
    fn removes_then_maps_then_adds_whatever_the_listed_order() {
        // Listed adds-first: if applied in list order, the add of B would be mapped to C,
        // and the map of A would win over the remove of A.
        let rules = vec![
            rule(RuleKind::Add { value: "B".into() }),
            rule(RuleKind::Map { predicate: "B".into(), value: "C".into() }),
            rule(RuleKind::Map { predicate: "A".into(), value: "D".into() }),
            rule(RuleKind::Remove { predicate: "A".into() }),
        ];
        assert_eq!(apply(&rules, &tags(&["A", "B", "KEEP"])), tags(&["B", "C", "KEEP"]));
    }

    #[test]
    fn map_replaces_only_present_tags() {
        let rules = vec![rule(RuleKind::Map { predicate: "ITAR".into(), value: "LOCAL-ITAR".into() })];
        assert_eq!(apply(&rules, &tags(&["X"])), tags(&["X"]));
        assert_eq!(apply(&rules, &tags(&["ITAR"])), tags(&["LOCAL-ITAR"]));
    }

    #[test]
    fn uncovered_lists_tags_without_remove_or_map() {
        let rules = vec![
            rule(RuleKind::Remove { predicate: "A".into() }),
            rule(RuleKind::Map { predicate: "B".into(), value: "X".into() }),
            rule(RuleKind::Add { value: "C".into() }),
        ];
        assert_eq!(uncovered(&rules, &tags(&["A", "B", "C", "D"])), tags(&["C", "D"]));
    }

    #[test]
    fn validation_refuses_missing_description_and_foreign_tags() {
        let allowed = tags(&["A", "B"]);
        let mut r = rule(RuleKind::Map { predicate: "A".into(), value: "B".into() });
        assert!(validate(&[r.clone()], Some(&allowed), &allowed).is_ok());
        r.description = " ".into();
        assert!(matches!(validate(&[r], Some(&allowed), &allowed), Err(TransformError::MissingDescription(_))));
        let bad_value = rule(RuleKind::Add { value: "Z".into() });
        assert!(matches!(
            validate(&[bad_value], Some(&allowed), &allowed),
            Err(TransformError::TagNotAllowed { role: "value", .. })
        ));
        let bad_predicate = rule(RuleKind::Remove { predicate: "Z".into() });
        assert!(validate(std::slice::from_ref(&bad_predicate), None, &allowed).is_ok());
        assert!(validate(&[bad_predicate], Some(&allowed), &allowed).is_err());
    }
}
