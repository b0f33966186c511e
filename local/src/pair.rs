//! Two platforms that exchange files: A sends, B receives, and one directory is A's
//! outbox and B's inbox (the "same bucket" arrangement). Used by the demo and the
//! end-to-end tests, on the embedded default or on real backends.

use crate::{context, LocalError, Platform};
use airlock_bus::{DynBus, InProcessBus};
use airlock_domain::{
    new_id, Clearance, Connection, InfosecLevel, Manifest, PlatformSettings, Resource, RuleKind, ShardEntries, TagSet,
    TransformRule, User,
};
use airlock_protocol::ChannelKeys;
use airlock_repo::SyncEvent;
use airlock_runtime::{Context, Settings};
use airlock_services::connections::{self, NewReceivingConnection, NewSendingConnection};
use airlock_services::registry;
use airlock_store::object_store::local::LocalFileSystem;
use airlock_store::object_store::ObjectStore;
use airlock_store::{NamedStores, Scheme, StoreConfig};
use rand::{distributions::Alphanumeric, Rng};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

pub const SYNC_TIMEOUT: Duration = Duration::from_secs(60);

/// Where the two platforms keep their state.
pub struct PairSetup {
    pub dir: PathBuf,
    pub database_a: String,
    pub database_b: String,
    pub bus_a: DynBus,
    pub bus_b: DynBus,
    /// Base settings for both (database URLs are replaced per platform).
    pub settings: Settings,
    /// Whether B gets the receiving rules that cover A's tags (off to show the refusal).
    pub receiving_rules: bool,
    /// The bucket that is A's outbox and B's inbox; a directory under `dir` when unset.
    pub exchange: Option<Arc<dyn ObjectStore>>,
    /// The bucket name `exchange` stands for, which object-created events name; the
    /// directory's path when unset.
    pub exchange_bucket: Option<String>,
    /// Both platforms' master secret (the functions of a platform must share it).
    pub master_secret: String,
    /// Whether each platform's functions run as tasks of this process; off when they run
    /// as processes of their own (the fault drill), so only the setup happens here.
    pub functions_in_process: bool,
}

impl PairSetup {
    /// The embedded default: SQLite files and an in-process bus per platform.
    pub fn embedded(dir: &Path) -> Self {
        Self {
            dir: dir.to_owned(),
            database_a: format!("sqlite://{}", dir.join("a.db").display()),
            database_b: format!("sqlite://{}", dir.join("b.db").display()),
            bus_a: Arc::new(InProcessBus::new()),
            bus_b: Arc::new(InProcessBus::new()),
            settings: Settings { chunk_size: 64 * 1024, ..Settings::default() },
            receiving_rules: true,
            exchange: None,
            exchange_bucket: None,
            master_secret: random_secret(40),
            functions_in_process: true,
        }
    }
}

pub struct Pair {
    pub a: Platform,
    pub b: Platform,
    pub sending: Connection,
    pub receiving: Connection,
    /// A's outbox, which is B's inbox.
    pub exchange: Arc<dyn ObjectStore>,
    /// Where the exchange lives when it is a directory (the default).
    pub exchange_dir: PathBuf,
    /// The bucket name both sides know the exchange by (see `PairSetup::exchange_bucket`).
    pub exchange_bucket: String,
    pub shared_secret: String,
}

pub const ALICE: &str = "alice";
pub const BOB: &str = "bob";
pub const CAROL: &str = "carol";
/// A's administrator: not a registry user of files, but with the Secure Connections feature
/// flag on, as admin routes need. B's administrator is Bob.
pub const ADMIN_A: &str = "admin-a";

pub fn random_secret(len: usize) -> String {
    rand::thread_rng().sample_iter(&Alphanumeric).take(len).map(char::from).collect()
}

fn setup_error(e: impl std::fmt::Display) -> LocalError {
    LocalError::Startup(e.to_string())
}

fn refused(e: impl std::fmt::Display) -> LocalError {
    LocalError::Refused(e.to_string())
}

fn tags(list: &[&str]) -> TagSet {
    list.iter().map(|t| t.to_string()).collect()
}

fn rule(kind: RuleKind, description: &str) -> TransformRule {
    TransformRule { id: new_id(), kind, description: description.into() }
}

impl Pair {
    pub async fn start(setup: PairSetup) -> Result<Pair, LocalError> {
        let exchange_dir = setup.dir.join("exchange");
        let exchange: Arc<dyn ObjectStore> = match &setup.exchange {
            Some(store) => store.clone(),
            None => {
                std::fs::create_dir_all(&exchange_dir).map_err(setup_error)?;
                Arc::new(
                    LocalFileSystem::new_with_prefix(&exchange_dir).map_err(setup_error)?.with_automatic_cleanup(true),
                )
            }
        };
        let exchange_bucket =
            setup.exchange_bucket.clone().unwrap_or_else(|| exchange_dir.to_string_lossy().into_owned());

        let outbox = ("OUTBOX", exchange_bucket.as_str(), exchange.clone());
        let ctx_a = platform_context(&setup, "a", &setup.database_a, setup.bus_a.clone(), outbox).await?;
        let inbox = ("INBOX", exchange_bucket.as_str(), exchange.clone());
        let ctx_b = platform_context(&setup, "b", &setup.database_b, setup.bus_b.clone(), inbox).await?;
        seed_a(&ctx_a).await?;
        seed_b(&ctx_b).await?;

        let shared_secret = random_secret(32);
        let sending = connections::create_sending(
            &ctx_a,
            NewSendingConnection {
                name: "To partner B".into(),
                description: "design data for the joint programme".into(),
                outbox: "OUTBOX".into(),
                shared_id: "a-to-b".into(),
                secret: shared_secret.clone(),
                secret_confirmation: shared_secret.clone(),
                permitted_level: Some("INTERNAL".into()),
                permitted_tags: tags(&["ITAR", "PROJECT-X"]),
                certified: true,
            },
        )
        .await
        .map_err(setup_error)?;
        connections::set_transforms(
            &ctx_a,
            &sending.id,
            vec![rule(RuleKind::Remove { predicate: "PROJECT-X".into() }, "the programme's code name stays in-house")],
        )
        .await
        .map_err(setup_error)?;

        let receiving = connections::create_receiving(
            &ctx_b,
            NewReceivingConnection {
                name: "From partner A".into(),
                description: String::new(),
                inbox: "INBOX".into(),
                shared_id: sending.shared_id.clone(),
                secret: shared_secret.clone(),
                creator_id: BOB.into(),
            },
        )
        .await
        .map_err(setup_error)?;
        ctx_b.repo.set_owners(&receiving.id, &[BOB.into(), CAROL.into()]).await?;
        if setup.receiving_rules {
            cover_incoming_tags(&ctx_b, &receiving.id).await?;
        }

        let platform = |name: &str, ctx| match setup.functions_in_process {
            true => Platform::start(name, ctx),
            false => Platform::idle(name, ctx),
        };
        Ok(Pair {
            a: platform("A", ctx_a),
            b: platform("B", ctx_b),
            sending,
            receiving,
            exchange,
            exchange_dir,
            exchange_bucket,
            shared_secret,
        })
    }

    /// Alice uploads a file at A.
    pub async fn upload(
        &self,
        name: &str,
        level: &str,
        file_tags: &[&str],
        content: &[u8],
    ) -> Result<Resource, LocalError> {
        let (resource, _) =
            registry::upload(&self.a.ctx, ALICE, name, level, tags(file_tags), content).await.map_err(refused)?;
        Ok(resource)
    }

    /// Alice shares a file with the sending connection, with the certification.
    pub async fn share(&self, resource_id: &str) -> Result<(), LocalError> {
        registry::share_with_connection(&self.a.ctx, ALICE, resource_id, &self.sending.id, true).await.map_err(refused)
    }

    /// What A's exchange publishes now (the signed manifest and every shard it names), opened
    /// with the channel's keys.
    pub async fn published(&self) -> Result<(Manifest, Vec<ShardEntries>), LocalError> {
        let keys = self.partner_keys().await?;
        crate::audit::read_published(&self.exchange, &keys, &self.sending.shared_id, usize::MAX)
            .await
            .map_err(LocalError::Startup)?
            .ok_or_else(|| LocalError::Startup(format!("no manifest under {}", self.sending.shared_id)))
    }

    /// Plays a partner who holds the secret: `edit` changes what A published, which is then
    /// stored and signed again as a sender would.
    pub async fn resign_published(
        &self,
        edit: impl FnOnce(&mut Manifest, &mut Vec<ShardEntries>),
    ) -> Result<(), LocalError> {
        let keys = self.partner_keys().await?;
        crate::audit::rewrite_published(&self.exchange, &keys, &self.sending.shared_id, edit)
            .await
            .map_err(LocalError::Startup)
    }

    /// The channel keys A publishes with.
    pub async fn partner_keys(&self) -> Result<ChannelKeys, LocalError> {
        self.a.ctx.channel_keys(&self.sending).await.map_err(|e| LocalError::Startup(e.into()))
    }

    /// One full round: A publishes, then B polls and ingests. Returns both sides' events.
    pub async fn sync(&self) -> Result<(SyncEvent, SyncEvent), LocalError> {
        let sent = self.a.sync(SYNC_TIMEOUT).await?;
        let received = self.b.sync(SYNC_TIMEOUT).await?;
        let one = |mut events: Vec<SyncEvent>, side: &str| {
            events.pop().ok_or_else(|| LocalError::Startup(format!("platform {side} started no sync")))
        };
        Ok((one(sent, "A")?, one(received, "B")?))
    }

    /// Files user sees at B, and their contents.
    pub async fn files_at_b(&self, user: &str) -> Result<Vec<(Resource, Vec<u8>)>, LocalError> {
        let mut out = Vec::new();
        for resource in registry::files_visible_to(&self.b.ctx, user).await.map_err(refused)? {
            let bytes = registry::read_file(&self.b.ctx, user, &resource.id).await.map_err(refused)?;
            out.push((resource, bytes));
        }
        out.sort_by(|x, y| x.0.name.cmp(&y.0.name));
        Ok(out)
    }
}

/// B's rules for what A sends: ITAR maps to B's own export tag, and every file gets a
/// provenance tag.
pub async fn cover_incoming_tags(ctx: &Context, receiving_id: &str) -> Result<(), LocalError> {
    connections::set_transforms(
        ctx,
        receiving_id,
        vec![
            rule(RuleKind::Add { value: "FROM-PARTNER-A".into() }, "mark provenance"),
            rule(RuleKind::Map { predicate: "ITAR".into(), value: "B-ITAR".into() }, "partner's ITAR is our B-ITAR"),
        ],
    )
    .await
    .map_err(setup_error)
}

async fn platform_context(
    setup: &PairSetup,
    name: &str,
    database_url: &str,
    bus: DynBus,
    exchange: (&str, &str, Arc<dyn ObjectStore>),
) -> Result<Arc<Context>, LocalError> {
    // Directories are configured as a deployment configures them, so they are used as one is.
    let registry = directory("REGISTRY", &setup.dir.join(format!("registry-{name}")));
    let exchange_dir = setup.exchange.is_none().then(|| directory(exchange.0, &setup.dir.join("exchange")));
    let configs: Vec<StoreConfig> = std::iter::once(registry).chain(exchange_dir).collect();
    let mut stores = NamedStores::from_configs(&configs).map_err(setup_error)?;
    if setup.exchange.is_some() {
        stores.insert_named(exchange.0, exchange.1, exchange.2);
    }
    let settings = Settings { database_url: database_url.into(), ..setup.settings.clone() };
    context(settings, &setup.master_secret, bus, stores).await
}

fn directory(label: &str, dir: &Path) -> StoreConfig {
    StoreConfig {
        label: label.into(),
        scheme: Scheme::File,
        name: dir.to_string_lossy().into_owned(),
        endpoint_url: None,
        region: None,
        access_key: None,
        secret_key: None,
    }
}

async fn seed_a(ctx: &Context) -> Result<(), LocalError> {
    let levels = vec![InfosecLevel::new("PUBLIC", 0), InfosecLevel::new("INTERNAL", 1), InfosecLevel::new("SECRET", 2)];
    ctx.repo.save_platform(&PlatformSettings { infosec_enabled: true, max_level: levels[2].clone(), levels }).await?;
    for tag in ["ITAR", "PROJECT-X", "EXPORT-CTRL"] {
        ctx.repo.put_control_tag(tag, true).await?;
    }
    ctx.repo
        .put_user(&User {
            id: ALICE.into(),
            name: "Alice (A, engineer)".into(),
            clearance: Clearance {
                level: InfosecLevel::new("SECRET", 2),
                tags: tags(&["ITAR", "PROJECT-X", "EXPORT-CTRL"]),
            },
        })
        .await?;
    ctx.repo
        .put_user(&User {
            id: ADMIN_A.into(),
            name: "A's administrator".into(),
            clearance: Clearance { level: InfosecLevel::new("PUBLIC", 0), tags: TagSet::new() },
        })
        .await?;
    ctx.repo.set_secure_connections(ADMIN_A, true).await?;
    Ok(())
}

async fn seed_b(ctx: &Context) -> Result<(), LocalError> {
    let levels = vec![
        InfosecLevel::new("UNCLASSIFIED", 0),
        InfosecLevel::new("RESTRICTED", 1),
        InfosecLevel::new("CONFIDENTIAL", 2),
    ];
    ctx.repo.save_platform(&PlatformSettings { infosec_enabled: true, max_level: levels[2].clone(), levels }).await?;
    for tag in ["B-ITAR", "FROM-PARTNER-A"] {
        ctx.repo.put_control_tag(tag, true).await?;
    }
    let users = [
        (BOB, "Bob (B, cleared owner)", InfosecLevel::new("RESTRICTED", 1), tags(&["B-ITAR", "FROM-PARTNER-A"])),
        (CAROL, "Carol (B, owner without clearance)", InfosecLevel::new("UNCLASSIFIED", 0), tags(&["FROM-PARTNER-A"])),
    ];
    for (id, name, level, user_tags) in users {
        ctx.repo
            .put_user(&User { id: id.into(), name: name.into(), clearance: Clearance { level, tags: user_tags } })
            .await?;
    }
    ctx.repo.set_secure_connections(BOB, true).await?;
    Ok(())
}
