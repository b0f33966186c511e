use crate::classification::{join_tags, InfosecLevel, TagSet};
use crate::messages;

/// What a sending connection lets through.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SendingPolicy {
    /// Whether the platform enforces infosec levels at all.
    pub infosec_enabled: bool,
    /// The highest level allowed through; with infosec enabled and none set, only the
    /// platform's lowest level may flow (the safe reading of "not configured").
    pub permitted_level: Option<InfosecLevel>,
    pub permitted_tags: TagSet,
}

/// Why a shared resource may not flow through a sending connection; recorded as the
/// reason it was removed from the connection.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Ineligible {
    #[error("infosec level {level} exceeds the connection's permitted level {permitted}")]
    LevelAbovePermitted { level: InfosecLevel, permitted: InfosecLevel },
    #[error("infosec level {level} is above the lowest level and the connection has no permitted infosec level")]
    NoPermittedLevel { level: InfosecLevel },
    #[error("control tag(s) not permitted on this connection: {}", join_tags(.tags))]
    TagsNotPermitted { tags: TagSet },
}

impl SendingPolicy {
    /// `lowest_order` is the order of the platform's lowest level.
    pub fn check(&self, level: &InfosecLevel, tags: &TagSet, lowest_order: i64) -> Result<(), Ineligible> {
        if self.infosec_enabled {
            match &self.permitted_level {
                Some(permitted) if level.order > permitted.order => {
                    return Err(Ineligible::LevelAbovePermitted { level: level.clone(), permitted: permitted.clone() })
                }
                None if level.order > lowest_order => {
                    return Err(Ineligible::NoPermittedLevel { level: level.clone() })
                }
                _ => {}
            }
        }
        let foreign: TagSet = tags.difference(&self.permitted_tags).cloned().collect();
        if !foreign.is_empty() {
            return Err(Ineligible::TagsNotPermitted { tags: foreign });
        }
        Ok(())
    }
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LevelCheckError {
    #[error("{}", messages::max_level_exceeds_local(.incoming, .local_max))]
    AboveLocalMax { incoming: InfosecLevel, local_max: InfosecLevel },
    #[error("incoming infosec level {incoming} has no local level of the same or a higher order")]
    NoLocalEquivalent { incoming: InfosecLevel },
    #[error("resource infosec level {level} is above the manifest's declared max {max}")]
    AboveManifestMax { level: InfosecLevel, max: InfosecLevel },
}

/// The receiving side refuses a partner whose max level exceeds its own.
pub fn check_manifest_max(incoming: &InfosecLevel, local_max: &InfosecLevel) -> Result<(), LevelCheckError> {
    if incoming.order > local_max.order {
        return Err(LevelCheckError::AboveLocalMax { incoming: incoming.clone(), local_max: local_max.clone() });
    }
    Ok(())
}

/// An incoming level maps to the local level of the same order; where the local scale has
/// no such order, to the nearest higher one, never to a lower one (that would declassify).
pub fn map_incoming_level(
    incoming: &InfosecLevel,
    local_levels: &[InfosecLevel],
) -> Result<InfosecLevel, LevelCheckError> {
    local_levels
        .iter()
        .filter(|l| l.order >= incoming.order)
        .min_by_key(|l| l.order)
        .cloned()
        .ok_or_else(|| LevelCheckError::NoLocalEquivalent { incoming: incoming.clone() })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(list: &[&str]) -> TagSet {
        list.iter().map(|s| s.to_string()).collect()
    }

    fn policy(level: Option<i64>, permitted: &[&str]) -> SendingPolicy {
        SendingPolicy {
            infosec_enabled: true,
            permitted_level: level.map(|o| InfosecLevel::new(format!("L{o}"), o)),
            permitted_tags: tags(permitted),
        }
    }

    #[test]
    fn eligible_when_level_and_tags_fit() {
        assert!(policy(Some(2), &["ITAR"]).check(&InfosecLevel::new("L2", 2), &tags(&["ITAR"]), 0).is_ok());
        assert!(policy(Some(2), &["ITAR"]).check(&InfosecLevel::new("L0", 0), &tags(&[]), 0).is_ok());
    }

    #[test]
    fn refuses_level_above_permitted() {
        let err = policy(Some(2), &[]).check(&InfosecLevel::new("L3", 3), &tags(&[]), 0).unwrap_err();
        assert!(matches!(err, Ineligible::LevelAbovePermitted { .. }));
        assert!(err.to_string().contains("'L3' (order=3) exceeds the connection's permitted level 'L2' (order=2)"));
    }

    #[test]
    fn no_permitted_level_lets_only_the_lowest_through() {
        assert!(policy(None, &[]).check(&InfosecLevel::new("L0", 0), &tags(&[]), 0).is_ok());
        assert!(matches!(
            policy(None, &[]).check(&InfosecLevel::new("L1", 1), &tags(&[]), 0),
            Err(Ineligible::NoPermittedLevel { .. })
        ));
    }

    #[test]
    fn infosec_disabled_skips_level_check() {
        let mut p = policy(Some(0), &[]);
        p.infosec_enabled = false;
        assert!(p.check(&InfosecLevel::new("L9", 9), &tags(&[]), 0).is_ok());
    }

    #[test]
    fn refuses_unpermitted_tags_and_names_them() {
        let err = policy(Some(5), &["A"]).check(&InfosecLevel::new("L0", 0), &tags(&["A", "B", "C"]), 0).unwrap_err();
        assert_eq!(err.to_string(), "control tag(s) not permitted on this connection: B, C");
    }

    #[test]
    fn manifest_max_above_local_refused_with_documented_text() {
        let err = check_manifest_max(&InfosecLevel::new("SECRET", 3), &InfosecLevel::new("CONF", 2)).unwrap_err();
        assert!(err
            .to_string()
            .starts_with("manifest max infosec level 'SECRET' (order=3) exceeds local platform max"));
        assert!(check_manifest_max(&InfosecLevel::new("CONF", 2), &InfosecLevel::new("C", 2)).is_ok());
    }

    #[test]
    fn incoming_level_maps_to_same_order_or_higher_never_lower() {
        let local =
            vec![InfosecLevel::new("PUBLIC", 0), InfosecLevel::new("RESTRICTED", 2), InfosecLevel::new("SECRET", 4)];
        assert_eq!(map_incoming_level(&InfosecLevel::new("R", 2), &local).unwrap().name, "RESTRICTED");
        assert_eq!(map_incoming_level(&InfosecLevel::new("X", 3), &local).unwrap().name, "SECRET");
        assert!(map_incoming_level(&InfosecLevel::new("X", 5), &local).is_err());
    }
}
