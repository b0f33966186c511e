//! Creating and configuring connections, with the checks the admin panel relies on.

use airlock_domain::transform::{self, TransformError};
use airlock_domain::{new_id, now_millis, Connection, ConnectionKind, SharedId, SharedIdError, TagSet, TransformRule};
use airlock_repo::RepoError;
use airlock_runtime::Context;

/// A typed secret must take at least 10^14 guesses by zxcvbn's estimate: a bucket reader who
/// pays Argon2id for each guess then cannot get through them.
pub const MIN_SECRET_GUESSES_LOG10: f64 = 14.0;

#[derive(Debug, thiserror::Error)]
pub enum ConnectionError {
    #[error(transparent)]
    Repo(#[from] RepoError),
    #[error(transparent)]
    SharedId(#[from] SharedIdError),
    #[error(transparent)]
    Transform(#[from] TransformError),
    #[error("connection name is empty")]
    EmptyName,
    #[error("object store '{0}' is not configured (no FILE_SERVICE_OBJECT_STORES__{0}__* variables)")]
    UnknownStore(String),
    #[error(
        "shared secret is too easy to guess: {why}about 10^{guesses_log10:.1} guesses, and at least \
         10^{MIN_SECRET_GUESSES_LOG10} are required so that nobody who reads the bucket can find it offline; \
         leave the secret out to have one generated, or use one like '{suggestion}'"
    )]
    WeakSecret { guesses_log10: f64, why: String, suggestion: String },
    #[error("the shared secret and its confirmation differ")]
    SecretMismatch,
    #[error("a sending connection needs the certification that it shares data with an external organization")]
    NotCertified,
    #[error("infosec level '{0}' is not one of this platform's levels")]
    UnknownLevel(String),
    #[error("control tag(s) not active on this platform: {0}")]
    UnknownTags(String),
    #[error("connection '{0}' not found")]
    NotFound(String),
    #[error("connection '{0}' is archived; archived connections cannot be changed")]
    Archived(String),
    #[error("user '{0}' not found")]
    UnknownUser(String),
}

pub struct NewSendingConnection {
    pub name: String,
    pub description: String,
    pub outbox: String,
    /// The chosen name; a random suffix is appended.
    pub shared_id: String,
    pub secret: String,
    pub secret_confirmation: String,
    pub permitted_level: Option<String>,
    pub permitted_tags: TagSet,
    pub certified: bool,
}

pub struct NewReceivingConnection {
    pub name: String,
    pub description: String,
    pub inbox: String,
    /// Exactly as the sending side shows it.
    pub shared_id: String,
    pub secret: String,
    pub creator_id: String,
}

pub async fn create_sending(ctx: &Context, new: NewSendingConnection) -> Result<Connection, ConnectionError> {
    if !new.certified {
        return Err(ConnectionError::NotCertified);
    }
    check_common(ctx, &new.name, &new.outbox)?;
    check_secret(&new.secret, &[&new.name, &new.shared_id])?;
    if new.secret != new.secret_confirmation {
        return Err(ConnectionError::SecretMismatch);
    }
    let platform = ctx.repo.platform().await?;
    let permitted_level = match &new.permitted_level {
        Some(name) => {
            Some(platform.level_by_name(name).cloned().ok_or_else(|| ConnectionError::UnknownLevel(name.clone()))?)
        }
        None => None,
    };
    check_tags_active(ctx, &new.permitted_tags).await?;
    let connection = Connection {
        id: new_id(),
        kind: ConnectionKind::Sending,
        name: new.name.trim().into(),
        description: new.description,
        shared_id: SharedId::with_random_suffix(new.shared_id.trim())?.to_string(),
        store_label: new.outbox.to_ascii_uppercase(),
        wrapped_secret: ctx.master.wrap(&new.secret),
        permitted_level,
        permitted_tags: new.permitted_tags,
        shard_count: ctx.settings.shard_count,
        created_at: now_millis(),
        archived_at: None,
        health: None,
    };
    ctx.repo.create_connection(&connection).await?;
    derive_channel_keys(ctx, &connection).await;
    Ok(connection)
}

/// The creator becomes the first owner.
pub async fn create_receiving(ctx: &Context, new: NewReceivingConnection) -> Result<Connection, ConnectionError> {
    check_common(ctx, &new.name, &new.inbox)?;
    check_secret(&new.secret, &[&new.name, &new.shared_id])?;
    ctx.repo.user(&new.creator_id).await?.ok_or_else(|| ConnectionError::UnknownUser(new.creator_id.clone()))?;
    let connection = Connection {
        id: new_id(),
        kind: ConnectionKind::Receiving,
        name: new.name.trim().into(),
        description: new.description,
        shared_id: SharedId::parse(new.shared_id.trim())?.to_string(),
        store_label: new.inbox.to_ascii_uppercase(),
        wrapped_secret: ctx.master.wrap(&new.secret),
        permitted_level: None,
        permitted_tags: TagSet::new(),
        // The receiver learns the sender's shard count from manifest 0; until then it reads shard 0.
        shard_count: 1,
        created_at: now_millis(),
        archived_at: None,
        health: None,
    };
    ctx.repo.create_connection(&connection).await?;
    ctx.repo.set_owners(&connection.id, std::slice::from_ref(&new.creator_id)).await?;
    derive_channel_keys(ctx, &connection).await;
    Ok(connection)
}

/// Replaces a connection's transform rules after checking them: sending rules take
/// predicates and values from the permitted tags; receiving rules take predicates from
/// the tags the partner sent (when any were seen) and values from active local tags.
pub async fn set_transforms(
    ctx: &Context,
    connection_id: &str,
    mut rules: Vec<TransformRule>,
) -> Result<(), ConnectionError> {
    let connection = active_connection(ctx, connection_id).await?;
    for rule in &mut rules {
        if rule.id.is_empty() {
            rule.id = new_id();
        }
    }
    match connection.kind {
        ConnectionKind::Sending => {
            transform::validate(&rules, Some(&connection.permitted_tags), &connection.permitted_tags)?;
        }
        ConnectionKind::Receiving => {
            let incoming = ctx.repo.incoming_tags(connection_id).await?;
            let active = ctx.repo.active_control_tags().await?;
            let predicates = (!incoming.is_empty()).then_some(&incoming);
            transform::validate(&rules, predicates, &active)?;
        }
    }
    ctx.repo.set_transforms(connection_id, &rules).await?;
    Ok(())
}

/// Incoming tags no rule covers: the transform editor warns about them, since they fail the sync.
pub async fn uncovered_incoming_tags(ctx: &Context, connection_id: &str) -> Result<TagSet, ConnectionError> {
    let rules = ctx.repo.transforms(connection_id).await?;
    let incoming = ctx.repo.incoming_tags(connection_id).await?;
    Ok(transform::uncovered(&rules, &incoming))
}

pub async fn active_connection(ctx: &Context, connection_id: &str) -> Result<Connection, ConnectionError> {
    let connection =
        ctx.repo.connection(connection_id).await?.ok_or_else(|| ConnectionError::NotFound(connection_id.into()))?;
    if !connection.is_active() {
        return Err(ConnectionError::Archived(connection_id.into()));
    }
    Ok(connection)
}

/// Pays the key derivation now, with the secret just stored, so that no sync pays it.
pub async fn derive_channel_keys(ctx: &Context, connection: &Connection) {
    // The secret was wrapped by this very master key a moment ago, so this cannot fail; a
    // later sync would report it if it did.
    let _ = ctx.channel_keys(connection).await;
}

/// What follows a new shared secret once the connection is stored with it. The keys are
/// derived again now (the stored ones are bound to the old secret and no longer unwrap for
/// the new one), so no sync pays the derivation. A sending connection's next publish
/// republishes everything under the new keys, at new object names (they carry the key id);
/// the old objects go after the grace period, once the new manifests name the new ones. A
/// receiving connection forgets its replay state: a manifest forged with a leaked old secret
/// may have pushed the sequences as high as they go, and the partner's next manifest, made
/// with the new secret, must be able to follow. The same secret given again keeps the state,
/// so manifests already seen stay refused as replays.
pub async fn secret_replaced(
    ctx: &Context,
    connection: &Connection,
    previous_wrapped_secret: &str,
) -> Result<(), ConnectionError> {
    derive_channel_keys(ctx, connection).await;
    let changed = !ctx.master.same_secret(previous_wrapped_secret, &connection.wrapped_secret);
    if connection.kind == ConnectionKind::Receiving && changed {
        ctx.repo.reset_replay_state(&connection.id).await?;
    }
    Ok(())
}

/// Refuses a typed secret that zxcvbn estimates guessable in fewer than 10^14 tries; `context`
/// holds words an attacker would try first (the connection's name, its shared ID).
pub fn check_secret(secret: &str, context: &[&str]) -> Result<(), ConnectionError> {
    let estimate = zxcvbn::zxcvbn(secret, context);
    let guesses_log10 = estimate.guesses_log10();
    if guesses_log10 >= MIN_SECRET_GUESSES_LOG10 {
        return Ok(());
    }
    let why = match estimate.feedback().and_then(|f| f.warning()) {
        Some(warning) => format!("{}; ", warning.to_string().trim_end_matches('.').to_lowercase()),
        None => String::new(),
    };
    Err(ConnectionError::WeakSecret { guesses_log10, why, suggestion: airlock_protocol::generate_shared_secret() })
}

fn check_common(ctx: &Context, name: &str, store: &str) -> Result<(), ConnectionError> {
    if name.trim().is_empty() {
        return Err(ConnectionError::EmptyName);
    }
    if ctx.stores.get(store).is_err() {
        return Err(ConnectionError::UnknownStore(store.to_ascii_uppercase()));
    }
    Ok(())
}

async fn check_tags_active(ctx: &Context, tags: &TagSet) -> Result<(), ConnectionError> {
    match crate::registry::inactive_tags(ctx, tags).await? {
        Some(unknown) => Err(ConnectionError::UnknownTags(unknown)),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weak_secrets_are_refused_with_why_and_a_generated_one_accepted() {
        for weak in ["password1234", "Summer2024!!", "acme-secret-2024", "aaaaaaaaaaaaaaaaaaaa"] {
            let err = check_secret(weak, &["To Acme", "acme"]).unwrap_err();
            let ConnectionError::WeakSecret { guesses_log10, suggestion, .. } = &err else { panic!("{err}") };
            assert!(*guesses_log10 < MIN_SECRET_GUESSES_LOG10, "{weak}");
            assert!(err.to_string().starts_with("shared secret is too easy to guess: "), "{err}");
            assert!(err.to_string().ends_with(&format!("use one like '{suggestion}'")), "{err}");
            check_secret(suggestion, &[]).expect("the offered secret is strong");
        }
        let generated = airlock_protocol::generate_shared_secret();
        check_secret(&generated, &["To Acme", "acme"]).unwrap();
        check_secret("wing-spar-secret-2026-xyz", &[]).unwrap();
    }
}
