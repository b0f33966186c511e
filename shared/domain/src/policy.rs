use crate::classification::{join_tags, validate_tag, InfosecLevel, TagSet};
use crate::entities::validate_file_name;
use crate::failures;
use crate::manifest::{object_prefix, shard_for, Manifest, ManifestEntry, ShardEntries};
use crate::transform::{self, TransformRule};

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
    #[error("{}", failures::max_level_exceeds_local(.incoming, .local_max))]
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

/// What a receiving connection lets in: the local scale and its max, the connection's
/// receiving rules, and the local tags that may be stored. One home for the rules the
/// validator applies to whole manifests and the ingester to each entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReceivingPolicy {
    pub local_levels: Vec<InfosecLevel>,
    pub local_max: InfosecLevel,
    pub rules: Vec<TransformRule>,
    /// Active local control tags: what the transformed tags of an entry must fall within.
    pub active_tags: TagSet,
}

/// Why a receiving sync or one incoming resource is refused. The Display texts are the
/// documented ones where the debugging guide names them.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error(transparent)]
    Level(#[from] LevelCheckError),
    #[error("manifest rejected: resource {resource_id}: object key '{key}' is outside this channel's '{prefix}'")]
    ForeignObjectKey { resource_id: String, key: String, prefix: String },
    #[error("manifest rejected: resource {resource_id} listed in shard {listed} but belongs to shard {belongs}")]
    WrongShard { resource_id: String, listed: u32, belongs: u32 },
    #[error("manifest rejected: resource {resource_id}: {error}")]
    EntryLevel { resource_id: String, error: LevelCheckError },
    #[error("{}", failures::uncovered_tags(.0))]
    UncoveredTags(TagSet),
    /// The root's summary of a shard is what the policy is checked against on every sync:
    /// an entry may not carry a tag the summary leaves out.
    #[error(
        "manifest rejected: resource {resource_id} in shard {shard} carries control tag(s) {} that the signed \
         manifest does not declare for that shard", join_tags(.tags)
    )]
    UndeclaredTags { resource_id: String, shard: u32, tags: TagSet },
    #[error("manifest rejected: shard {shard}: {why}")]
    InvalidDeclaredTag { shard: u32, why: String },
    /// A name or tag that a local upload could not carry either.
    #[error("{}", failures::partner_entry_invalid(.resource_id, .why))]
    InvalidEntry { resource_id: String, why: String },
}

/// One fetched entry against the root that vouches for its shard.
fn check_entry(
    manifest: &Manifest,
    shard: u32,
    declared: Option<&TagSet>,
    entry: &ManifestEntry,
) -> Result<(), Refused> {
    // Even a validly signed manifest may only name objects of its own channel and resource.
    let prefix = object_prefix(&manifest.shared_id, &entry.resource_id);
    let inside = entry.object_key.strip_prefix(&prefix).is_some_and(|rest| !rest.is_empty() && !rest.contains('/'));
    if !inside || entry.object_key.split('/').any(|part| part == ".." || part.is_empty()) {
        return Err(Refused::ForeignObjectKey {
            resource_id: entry.resource_id.clone(),
            key: entry.object_key.clone(),
            prefix,
        });
    }
    let belongs = shard_for(&entry.resource_id, manifest.shard_count);
    if belongs != shard {
        return Err(Refused::WrongShard { resource_id: entry.resource_id.clone(), listed: shard, belongs });
    }
    // Names and tags are checked as a local upload's are: the registry, the panel and any
    // later export treat a received file like any other.
    let invalid = |why: String| Refused::InvalidEntry { resource_id: entry.resource_id.clone(), why };
    validate_file_name(&entry.name).map_err(invalid)?;
    for tag in &entry.tags {
        validate_tag(tag).map_err(invalid)?;
    }
    let undeclared: TagSet = entry.tags.iter().filter(|t| declared.is_none_or(|d| !d.contains(*t))).cloned().collect();
    if !undeclared.is_empty() {
        return Err(Refused::UndeclaredTags { resource_id: entry.resource_id.clone(), shard, tags: undeclared });
    }
    if entry.level.order > manifest.max_level.order {
        let error = LevelCheckError::AboveManifestMax { level: entry.level.clone(), max: manifest.max_level.clone() };
        return Err(Refused::EntryLevel { resource_id: entry.resource_id.clone(), error });
    }
    Ok(())
}

impl ReceivingPolicy {
    /// The verified root of one sync, on every sync and before any shard is fetched: the
    /// partner's max level within the local max, and every tag the root declares for any
    /// shard covered by a remove or map rule (all uncovered tags named at once).
    pub fn check_root(&self, manifest: &Manifest) -> Result<(), Refused> {
        check_manifest_max(&manifest.max_level, &self.local_max)?;
        let mut uncovered = TagSet::new();
        for shard_ref in &manifest.shards {
            for tag in &shard_ref.tags {
                validate_tag(tag).map_err(|why| Refused::InvalidDeclaredTag { shard: shard_ref.shard, why })?;
            }
            uncovered.extend(transform::uncovered(&self.rules, &shard_ref.tags));
        }
        if !uncovered.is_empty() {
            return Err(Refused::UncoveredTags(uncovered));
        }
        Ok(())
    }

    /// The shards fetched for a root `check_root` passed: each entry inside its channel and
    /// resource, in the shard its id hashes to, at a level within the root's max, with only
    /// tags its shard declares.
    pub fn check_entries(&self, manifest: &Manifest, fetched: &[ShardEntries]) -> Result<(), Refused> {
        for shard in fetched {
            let declared = manifest.shards.iter().find(|r| r.shard == shard.shard).map(|r| &r.tags);
            for entry in &shard.resources {
                check_entry(manifest, shard.shard, declared, entry)?;
            }
        }
        Ok(())
    }

    /// One entry as it will be stored: its local level (same order or the nearest higher)
    /// and its tags after the receiving rules, which must all be active local tags.
    pub fn admit(&self, entry: &ManifestEntry) -> Result<(InfosecLevel, TagSet), Refused> {
        let level = map_incoming_level(&entry.level, &self.local_levels)?;
        let tags = transform::apply(&self.rules, &entry.tags);
        let foreign: TagSet = tags.difference(&self.active_tags).cloned().collect();
        if !foreign.is_empty() {
            return Err(Refused::UncoveredTags(foreign));
        }
        Ok((level, tags))
    }
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

    mod receiving {
        use super::*;
        use crate::manifest::{object_key, MANIFEST_FORMAT_VERSION};
        use crate::transform::RuleKind;

        fn rule(kind: RuleKind) -> TransformRule {
            TransformRule { id: "r".into(), kind, description: "partner naming".into() }
        }

        fn local() -> ReceivingPolicy {
            ReceivingPolicy {
                local_levels: vec![InfosecLevel::new("PUBLIC", 0), InfosecLevel::new("SECRET", 3)],
                local_max: InfosecLevel::new("SECRET", 3),
                rules: vec![
                    rule(RuleKind::Map { predicate: "ITAR".into(), value: "B-ITAR".into() }),
                    rule(RuleKind::Remove { predicate: "DRAFT".into() }),
                ],
                active_tags: tags(&["B-ITAR"]),
            }
        }

        /// An entry of resource `id` (the shard count only says where it belongs).
        fn entry(id: &str, _shard_count: u32, level: i64, tag_list: &[&str]) -> ManifestEntry {
            ManifestEntry {
                resource_id: id.into(),
                revision_id: "v1".into(),
                name: format!("{id}.txt"),
                size: 1,
                sha256: "00".repeat(32),
                object_key: object_key("chan", id, "v1", "k"),
                tags: tags(tag_list),
                level: InfosecLevel::new(format!("L{level}"), level),
            }
        }

        fn shard(shard: u32, shard_count: u32, resources: Vec<ManifestEntry>) -> ShardEntries {
            ShardEntries { shared_id: "chan".into(), shard, shard_count, resources }
        }

        /// The signed root over `shards` (the rest of the count empty), at max level `max`.
        fn root(max: i64, shard_count: u32, shards: &[ShardEntries]) -> Manifest {
            let refs = (0..shard_count)
                .map(|k| shards.iter().find(|s| s.shard == k).cloned().unwrap_or_else(|| shard(k, shard_count, vec![])))
                .map(|s| s.to_object().1)
                .collect();
            Manifest {
                version: MANIFEST_FORMAT_VERSION,
                shared_id: "chan".into(),
                shard_count,
                sequence: 1,
                generated_at: 0,
                expires_at: 1,
                max_level: InfosecLevel::new(format!("L{max}"), max),
                shards: refs,
            }
        }

        /// Checks one fetched shard under a root that declares it as it is.
        fn check(k: u32, shard_count: u32, max: i64, resources: Vec<ManifestEntry>) -> Result<(), Refused> {
            let fetched = [shard(k, shard_count, resources)];
            let (policy, root) = (local(), root(max, shard_count, &fetched));
            // Entries first, so that a bad tag is named with the resource that carries it.
            policy.check_entries(&root, &fetched).and_then(|()| policy.check_root(&root))
        }

        #[test]
        fn accepts_covered_tags_within_levels() {
            assert_eq!(check(0, 1, 2, vec![entry("a", 1, 1, &["ITAR", "DRAFT"]), entry("b", 1, 0, &[])]), Ok(()));
        }

        #[test]
        fn refuses_partner_max_above_local_with_documented_text() {
            let err = check(0, 1, 4, vec![]).unwrap_err();
            assert!(err
                .to_string()
                .starts_with("manifest max infosec level 'L4' (order=4) exceeds local platform max"));
        }

        #[test]
        fn names_every_uncovered_tag_across_manifests() {
            let ids: Vec<String> = (0..50).map(|i| format!("r{i}")).collect();
            let a = ids.iter().find(|id| shard_for(id, 2) == 0).unwrap();
            let b = ids.iter().find(|id| shard_for(id, 2) == 1).unwrap();
            let shards = [shard(0, 2, vec![entry(a, 2, 0, &["X"])]), shard(1, 2, vec![entry(b, 2, 0, &["Y", "ITAR"])])];
            // From the root alone: nothing fetched, every shard's declared tags checked.
            let err = local().check_root(&root(2, 2, &shards)).unwrap_err();
            assert_eq!(err.to_string(), "manifest control tag(s) uncovered by any transformation predicate: X, Y");
        }

        #[test]
        fn refuses_objects_outside_the_channel_or_shard() {
            let mut outside = entry("a", 1, 0, &[]);
            outside.object_key = "other/objects/a.v1".into();
            let err = check(0, 1, 2, vec![outside]).unwrap_err();
            assert!(matches!(err, Refused::ForeignObjectKey { .. }), "{err}");
            let mut climbing = entry("a", 1, 0, &[]);
            climbing.object_key = "chan/objects/a./../../x".into();
            assert!(matches!(check(0, 1, 2, vec![climbing]), Err(Refused::ForeignObjectKey { .. })));
            let misplaced = (0..50).map(|i| format!("r{i}")).find(|id| shard_for(id, 4) != 0).unwrap();
            let wrong = entry(&misplaced, 4, 0, &[]);

            let err = check(0, 4, 2, vec![wrong]).unwrap_err();
            assert!(err.to_string().contains("listed in shard 0 but belongs to shard"), "{err}");
        }

        #[test]
        fn refuses_partner_names_and_tags_a_local_upload_could_not_carry() {
            let refusal = |edit: fn(&mut ManifestEntry)| {
                let mut e = entry("a", 1, 0, &[]);
                edit(&mut e);
                check(0, 1, 2, vec![e]).unwrap_err().to_string()
            };
            assert_eq!(
                refusal(|e| e.name = "../../etc/cron.d/x".into()),
                "manifest rejected: resource a: file name '../../etc/cron.d/x' is empty, longer than 255 bytes, \
                 or has control characters or path separators"
            );
            assert!(refusal(|e| e.name = "report\u{1b}[2J.pdf".into()).contains("file name 'report\\u{1b}[2J.pdf'"));
            assert!(refusal(|e| e.name = "x".repeat(300)).contains("longer than 255 bytes"));
            assert!(refusal(|e| e.name = String::new()).starts_with("manifest rejected: resource a: file name ''"));
            assert_eq!(
                refusal(|e| e.tags = ["IT\nAR".to_string()].into()),
                "manifest rejected: resource a: control tag 'IT\nAR' contains a comma or a control character"
            );
            assert_eq!(
                refusal(|e| e.tags = ["x".repeat(101)].into()),
                format!(
                    "manifest rejected: resource a: control tag '{}' is longer than 100 characters",
                    "x".repeat(101)
                )
            );
        }

        #[test]
        fn refuses_an_entry_above_its_manifest_max() {
            let err = check(0, 1, 1, vec![entry("a", 1, 2, &[])]).unwrap_err();
            assert_eq!(err.to_string(), "manifest rejected: resource a: resource infosec level 'L2' (order=2) is above the manifest's declared max 'L1' (order=1)");
        }

        #[test]
        fn refuses_an_entry_with_a_tag_its_shard_does_not_declare() {
            let declared = shard(0, 1, vec![entry("a", 1, 0, &[])]);
            let fetched = [shard(0, 1, vec![entry("a", 1, 0, &["ITAR"])])];
            let err = local().check_entries(&root(2, 1, &[declared]), &fetched).unwrap_err();
            assert_eq!(
                err.to_string(),
                "manifest rejected: resource a in shard 0 carries control tag(s) ITAR that the signed manifest does \
                 not declare for that shard"
            );
        }

        #[test]
        fn refuses_an_entry_of_another_resource_object() {
            let mut borrowed = entry("a", 1, 0, &[]);
            borrowed.object_key = object_key("chan", "b", "v1", "k");
            assert!(matches!(check(0, 1, 2, vec![borrowed]), Err(Refused::ForeignObjectKey { .. })));
            for key in ["chan/objects/ab.v1.k", "chan/objects/a.v1/deeper", "chan/objects/a.", "chan/objects/a"] {
                let mut odd = entry("a", 1, 0, &[]);
                odd.object_key = key.into();
                assert!(matches!(check(0, 1, 2, vec![odd]), Err(Refused::ForeignObjectKey { .. })), "{key}");
            }
        }

        #[test]
        fn admits_with_mapped_level_and_transformed_tags() {
            let (level, stored) = local().admit(&entry("a", 1, 2, &["ITAR", "DRAFT"])).unwrap();
            assert_eq!(
                (level.name.as_str(), stored),
                ("SECRET", tags(&["B-ITAR"])),
                "order 2 maps up to 3, never down"
            );
            assert!(matches!(
                local().admit(&entry("a", 1, 4, &[])),
                Err(Refused::Level(LevelCheckError::NoLocalEquivalent { .. }))
            ));
            let mut inactive = local();
            inactive.active_tags = TagSet::new();
            let err = inactive.admit(&entry("a", 1, 0, &["ITAR"])).unwrap_err();
            assert_eq!(err.to_string(), "manifest control tag(s) uncovered by any transformation predicate: B-ITAR");
        }
    }
}
