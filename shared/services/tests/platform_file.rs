//! The platform file: both formats, every refusal (each names its field and changes
//! nothing), and idempotent application.

use airlock_domain::{Clearance, InfosecLevel, Resource, TagSet};
use airlock_runtime::{Context, Settings};
use airlock_services::platform_file::{self, PlatformFile, PlatformFileError, FILE_ACTOR};
use airlock_store::NamedStores;
use std::sync::Arc;

const EXAMPLE: &str = r#"
[infosec]
enabled = true
max = "SECRET"
levels = [
  { name = "UNCLASSIFIED", order = 0 },
  { name = "CONFIDENTIAL", order = 10 },
  { name = "SECRET", order = 20 },
]

[[tags]]
name = "ITAR"

[[tags]]
name = "LEGACY"
active = false

[[users]]
id = "alice"
name = "Alice Example"
email = "alice@example.org"
level = "SECRET"
tags = ["ITAR"]
secure_connections = true
"#;

async fn context() -> Arc<Context> {
    let settings = Settings { database_url: "sqlite::memory:".into(), ..Settings::default() };
    let repo = airlock_repo::connect(&settings.database_url).await.expect("in-memory database");
    let master = airlock_protocol::MasterKey::new(&"m".repeat(40)).expect("a long enough master key");
    let bus = Arc::new(airlock_bus::InProcessBus::new());
    Arc::new(Context { settings, repo, bus, stores: NamedStores::default(), master })
}

fn refusal(result: Result<PlatformFile, PlatformFileError>) -> String {
    match result {
        Ok(file) => panic!("expected a refusal, got {file:?}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn toml_and_yaml_read_alike() {
    let toml = PlatformFile::from_toml(EXAMPLE).unwrap();
    let yaml = PlatformFile::from_yaml(
        "infosec:\n  enabled: true\n  max: SECRET\n  levels:\n    - {name: UNCLASSIFIED, order: 0}\n    \
         - {name: CONFIDENTIAL, order: 10}\n    - {name: SECRET, order: 20}\n\
         tags:\n  - name: ITAR\n  - name: LEGACY\n    active: false\n\
         users:\n  - id: alice\n    name: Alice Example\n    email: alice@example.org\n    level: SECRET\n    \
         tags: [ITAR]\n    secure_connections: true\n",
    )
    .unwrap();
    assert_eq!(toml, yaml);
    assert!(toml.tags[0].active, "a tag is active unless it says otherwise");
}

#[test]
fn load_follows_the_extension_and_names_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let toml = dir.path().join("platform.toml");
    std::fs::write(&toml, EXAMPLE).unwrap();
    assert_eq!(PlatformFile::load(&toml).unwrap().users.len(), 1);
    let yaml = dir.path().join("platform.yml");
    std::fs::write(&yaml, "tags:\n  - name: ITAR\n").unwrap();
    assert_eq!(PlatformFile::load(&yaml).unwrap().tags.len(), 1);
    let other = dir.path().join("platform.json");
    std::fs::write(&other, "{}").unwrap();
    assert!(refusal(PlatformFile::load(&other)).contains("has no .toml, .yaml or .yml extension"));
    let missing = refusal(PlatformFile::load(dir.path().join("absent.toml")));
    assert!(missing.starts_with("platform file '") && missing.contains("absent.toml' cannot be read"), "{missing}");
    std::fs::write(&toml, "[infosec\n").unwrap();
    assert!(refusal(PlatformFile::load(&toml)).contains("is not valid TOML"));
}

#[test]
fn unknown_fields_and_wrong_types_are_refused() {
    let typo = refusal(PlatformFile::from_toml("[[users]]\nid = \"a\"\nlevle = \"SECRET\"\n"));
    assert!(typo.contains("unknown field `levle`"), "{typo}");
    let wrong = refusal(PlatformFile::from_toml("[infosec]\nenabled = \"yes\"\n"));
    assert!(wrong.contains("is not valid TOML"), "{wrong}");
    let yaml = refusal(PlatformFile::from_yaml("tags: ITAR\n"));
    assert!(yaml.contains("is not valid YAML"), "{yaml}");
}

#[test]
fn each_self_contained_refusal_names_its_field() {
    let cases = [
        (
            "[infosec]\nlevels = [{ name = \"A\", order = 0 }, { name = \"A\", order = 1 }]",
            "platform file infosec.levels[1].name: 'A' is listed twice",
        ),
        (
            "[infosec]\nlevels = [{ name = \"A\", order = 0 }, { name = \"B\", order = 0 }]",
            "platform file infosec.levels[1].order: 0 is also the order of 'A'",
        ),
        ("[infosec]\nlevels = [{ name = \" \", order = 0 }]", "platform file infosec.levels[0].name: ' ' is empty"),
        ("[infosec]\nmax = \"A,B\"", "platform file infosec.max: 'A,B' is empty, has surrounding spaces, a comma"),
        ("[[tags]]\nname = \"A,B\"", "platform file tags[0].name: control tag 'A,B' contains a comma"),
        ("[[tags]]\nname = \"X\"\n[[tags]]\nname = \"X\"", "platform file tags[1].name: 'X' is listed twice"),
        ("[[users]]\nid = \"\"", "platform file users[0].id: is empty"),
        ("[[users]]\nid = \"a\"\n[[users]]\nid = \"a\"", "platform file users[1].id: 'a' is listed twice"),
        ("[[users]]\nid = \"a\"\nlevel = \"L\"\ntags = [\"\"]", "platform file users[0].tags[0]: control tag is empty"),
        ("[[users]]\nid = \"a\"\ntags = [\"ITAR\"]", "platform file users[0].level: is needed when tags are given"),
    ];
    for (text, expected) in cases {
        let message = refusal(PlatformFile::from_toml(text));
        assert!(message.starts_with(expected), "for {text:?}: expected {expected:?}, got {message:?}");
    }
}

async fn apply_refusal(ctx: &Context, text: &str) -> String {
    let file = PlatformFile::from_toml(text).unwrap();
    match platform_file::apply(ctx, &file, FILE_ACTOR).await {
        Ok(summary) => panic!("expected a refusal of {text:?}, got {summary:?}"),
        Err(e) => e.to_string(),
    }
}

#[tokio::test]
async fn applies_once_and_then_changes_and_records_nothing() {
    let ctx = context().await;
    let file = PlatformFile::from_toml(EXAMPLE).unwrap();
    let first = platform_file::apply(&ctx, &file, FILE_ACTOR).await.unwrap();
    assert!(first.changes.contains(&"user 'alice' created".to_owned()), "{first:?}");
    let platform = ctx.repo.platform().await.unwrap();
    assert_eq!(platform.max_level, InfosecLevel::new("SECRET", 20));
    assert_eq!(platform.levels.len(), 3, "UNCLASSIFIED, the default, is kept, not added twice");
    let alice = ctx.repo.user_account("alice").await.unwrap().expect("alice is created");
    assert_eq!(alice.user.clearance.level.name, "SECRET");
    assert!(alice.user.clearance.tags.contains("ITAR") && alice.secure_connections);
    assert_eq!(alice.email, "alice@example.org");
    let tags = ctx.repo.control_tags().await.unwrap();
    assert!(tags.iter().any(|t| t.tag == "LEGACY" && !t.active), "{tags:?}");
    let audited = ctx.repo.audit_entries(500, 0).await.unwrap();
    assert!(audited.items.iter().all(|e| e.actor == FILE_ACTOR), "the file's changes are recorded as its own");
    assert_eq!(audited.items[0].action, "platform_file.apply", "the application itself is recorded last");

    let second = platform_file::apply(&ctx, &file, FILE_ACTOR).await.unwrap();
    assert!(second.is_empty(), "a second application changes nothing: {second:?}");
    assert_eq!(ctx.repo.audit_entries(1, 0).await.unwrap().total, audited.total, "and records nothing");
}

#[tokio::test]
async fn refusals_that_need_the_platform_change_nothing() {
    let ctx = context().await;
    let base = PlatformFile::from_toml(EXAMPLE).unwrap();
    platform_file::apply(&ctx, &base, FILE_ACTOR).await.unwrap();
    let before = ctx.repo.audit_entries(1, 0).await.unwrap().total;
    let platform_before = ctx.repo.platform().await.unwrap();

    let unknown =
        apply_refusal(&ctx, "[[users]]\nid = \"bob\"\nlevel = \"SECRET\"\n[[users]]\nid = \"carol\"\nlevel = \"TOP\"")
            .await;
    assert!(unknown.starts_with("platform file users[1].level: 'TOP' is not one of the levels"), "{unknown}");
    assert!(ctx.repo.user_account("bob").await.unwrap().is_none(), "the valid user before it is not created either");

    let max = apply_refusal(&ctx, "[infosec]\nmax = \"TOP\"").await;
    assert!(max.starts_with("platform file infosec.max: 'TOP' is not one of the levels"), "{max}");
    let above = apply_refusal(&ctx, "[infosec]\nmax = \"SECRET\"\nlevels = [{ name = \"SECRET\", order = 20 }, { name = \"TOP\", order = 30 }]\n[[users]]\nid = \"dan\"\nlevel = \"TOP\"").await;
    assert!(above.starts_with("platform file users[0].level: 'TOP' lies above the max level 'SECRET'"), "{above}");
    let taken = apply_refusal(&ctx, "[infosec]\nlevels = [{ name = \"RESTRICTED\", order = 10 }]").await;
    assert!(
        taken.starts_with("platform file infosec.levels[0].order: 10 is already the order of level 'CONFIDENTIAL'"),
        "{taken}"
    );
    let inactive = apply_refusal(&ctx, "[[users]]\nid = \"erin\"\nlevel = \"SECRET\"\ntags = [\"LEGACY\"]").await;
    assert!(
        inactive.starts_with("platform file users[0].tags[0]: 'LEGACY' is not an active control tag"),
        "{inactive}"
    );
    let held = apply_refusal(&ctx, "[infosec]\nlevels = [{ name = \"SECRET\", order = 25 }]").await;
    assert!(held.starts_with("platform file infosec.levels[0].order: moving 'SECRET' from order 20 to 25 is refused: 1 user(s) (Alice Example)"), "{held}");

    let owner_file = Resource {
        id: "f1".into(),
        name: "plan.pdf".into(),
        owner_id: "alice".into(),
        level: InfosecLevel::new("SECRET", 20),
        tags: TagSet::new(),
        origin_connection_id: None,
        created_at: 1,
        withdrawn_at: None,
    };
    ctx.repo.put_resource(&owner_file).await.unwrap();
    let lower = apply_refusal(&ctx, "[infosec]\nmax = \"CONFIDENTIAL\"").await;
    assert!(
        lower.starts_with(
            "platform file infosec.max: 'CONFIDENTIAL' is below 1 user(s) (Alice Example), 1 file(s) (plan.pdf)"
        ),
        "{lower}"
    );

    assert_eq!(ctx.repo.platform().await.unwrap(), platform_before, "no refused file changed the platform");
    assert_eq!(ctx.repo.audit_entries(1, 0).await.unwrap().total, before, "nor recorded anything");
    let alice = ctx.repo.user_account("alice").await.unwrap().unwrap();
    assert_eq!(
        alice.user.clearance,
        Clearance { level: InfosecLevel::new("SECRET", 20), tags: ["ITAR".to_owned()].into() }
    );
}

#[tokio::test]
async fn what_the_file_does_not_name_is_left_alone() {
    let ctx = context().await;
    platform_file::apply(&ctx, &PlatformFile::from_toml(EXAMPLE).unwrap(), FILE_ACTOR).await.unwrap();
    ctx.repo.put_control_tag("LOCAL-ONLY", true).await.unwrap();
    let partial = PlatformFile::from_toml("[[users]]\nid = \"alice\"\nsecure_connections = false").unwrap();
    let summary = platform_file::apply(&ctx, &partial, FILE_ACTOR).await.unwrap();
    assert_eq!(summary.changes, vec!["user 'alice' secure connections disabled".to_owned()]);
    let alice = ctx.repo.user_account("alice").await.unwrap().unwrap();
    assert_eq!(alice.user.name, "Alice Example", "name kept");
    assert_eq!(alice.user.clearance.level.name, "SECRET", "clearance kept");
    assert!(ctx.repo.active_control_tags().await.unwrap().contains("LOCAL-ONLY"), "tags it doesn't name stay");
    assert!(ctx.repo.platform().await.unwrap().infosec_enabled, "the switch stays");
}
