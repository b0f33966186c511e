use super::*;
use std::sync::OnceLock;

const MASTER: &str = "0123456789abcdef0123456789abcdef";

/// Argon2id costs 64 MiB per call: tests share one derivation where they can.
fn keys() -> &'static ChannelKeys {
    static KEYS: OnceLock<ChannelKeys> = OnceLock::new();
    KEYS.get_or_init(|| ChannelKeys::derive("secret", "acme-1x"))
}

fn cheap(secret: &str, shared_id: &str) -> ChannelKeys {
    ChannelKeys::derive_with(secret, shared_id, KdfParams { memory_kib: 64, iterations: 1, lanes: 1 }).unwrap()
}

#[test]
fn derivation_depends_on_secret_shared_id_and_revision() {
    let keys = cheap("secret", "acme-1x");
    let same = cheap("secret", "acme-1x");
    assert_eq!(keys.mac_key, same.mac_key);
    assert_ne!(keys.mac_key, keys.payload_master);
    assert_ne!(keys.mac_key, cheap("secret", "acme-2x").mac_key);
    assert_ne!(keys.mac_key, cheap("secret2", "acme-1x").mac_key);
    assert_eq!(keys.payload_key("r1").key, same.payload_key("r1").key);
    assert_ne!(keys.payload_key("r1").key, keys.payload_key("r2").key);
    // The parameters are part of the derivation, not only a label.
    let more = ChannelKeys::derive_with("secret", "acme-1x", KdfParams { memory_kib: 128, iterations: 1, lanes: 1 });
    assert_ne!(keys.mac_key, more.unwrap().mac_key);
}

/// Pins the documented derivation (values computed independently with Python's argon2-cffi
/// and hmac), so both platforms derive the same keys whichever build they run.
#[test]
fn derivation_matches_known_answers() {
    let keys = keys();
    assert_eq!(keys.params, KdfParams::RFC9106_SECOND);
    assert_eq!(hex::encode(keys.root), "24146569df5b973d4c378e012a5bf3b65dbbb476a99c0e65a2b7e17a08f26c93");
    assert_eq!(hex::encode(keys.mac_key), "e26963f058573588538824d7d85c4f098a1803f8d066853c50c2b94959a1f87b");
    assert_eq!(hex::encode(keys.payload_master), "3ca05014c1f484c42f87e506ec04ac783b7eef49da8eaad6e1d50a5e1b9dc15f");
    assert_eq!(
        hex::encode(keys.payload_key("rev-1").key),
        "a927f492a5e6d89fc8124ee9305f995791175de5eb528c596838d10d5e0f76d8"
    );
}

#[test]
fn params_label_round_trips_and_only_the_exact_form_parses() {
    assert_eq!(KdfParams::RFC9106_SECOND.label(), "argon2id-m65536-t3-p4");
    assert_eq!(KdfParams::parse("argon2id-m65536-t3-p4"), Some(KdfParams::RFC9106_SECOND));
    for bad in [
        "",
        "argon2i-m65536-t3-p4",
        "argon2id-m065536-t3-p4",
        "argon2id-m65536-t3",
        "argon2id-m-1-t3-p4",
        "argon2id-m65536-t3-p4 ",
        "argon2id-m99999999999-t3-p4",
        "argon2id-m65536-t+3-p4",
    ] {
        assert_eq!(KdfParams::parse(bad), None, "{bad}");
    }
}

#[test]
fn invalid_params_are_refused_with_their_label() {
    let err =
        ChannelKeys::derive_with("s", "acme-1x", KdfParams { memory_kib: 1, iterations: 1, lanes: 1 }).unwrap_err();
    assert_eq!(err.params, "argon2id-m1-t1-p1");
    assert!(err.to_string().starts_with("key derivation argon2id-m1-t1-p1 is not valid: "), "{err}");
}

#[test]
fn wrapped_keys_unwrap_only_for_the_same_secret_and_master() {
    let master = MasterKey::new(MASTER).unwrap();
    let keys = cheap("secret", "acme-1x");
    let stored = keys.wrap(&master, "v1:wrapped-secret");
    assert!(!stored.contains(&hex::encode(keys.root)), "the root key is stored encrypted");
    let back = ChannelKeys::unwrap(&master, &stored, "v1:wrapped-secret").unwrap();
    assert_eq!((back.params, back.mac_key, back.payload_master), (keys.params, keys.mac_key, keys.payload_master));
    // A reset secret is stored anew (a fresh nonce), so the old keys no longer match it.
    assert_eq!(ChannelKeys::unwrap(&master, &stored, "v1:another-wrapped-secret").unwrap_err(), InvalidToken);
    let other = MasterKey::new("another master secret of enough length").unwrap();
    assert_eq!(ChannelKeys::unwrap(&other, &stored, "v1:wrapped-secret").unwrap_err(), InvalidToken);
    // A wrapped shared secret is not a wrapped key.
    let not_keys = master.wrap("just a secret");
    assert_eq!(ChannelKeys::unwrap(&master, &not_keys, "v1:wrapped-secret").unwrap_err(), InvalidToken);
}

#[test]
fn generated_secrets_are_grouped_base32_and_never_repeat() {
    let a = generate_shared_secret();
    let b = generate_shared_secret();
    assert_ne!(a, b);
    let groups: Vec<&str> = a.split('-').collect();
    assert_eq!(groups.len(), 6, "{a}");
    for group in groups {
        assert_eq!(group.len(), 5, "{a}");
        assert!(group.bytes().all(|c| SECRET_ALPHABET.contains(&c)), "{a}");
    }
}

#[test]
fn debug_does_not_show_key_material() {
    let keys = cheap("secret", "acme-1x");
    assert_eq!(format!("{keys:?}"), "ChannelKeys { params: \"argon2id-m64-t1-p1\", .. }");
    assert_eq!(format!("{:?}", keys.payload_key("r")), "PayloadKey { .. }");
}

/// Run with `--ignored --nocapture` to see what one derivation costs on this machine.
#[test]
#[ignore]
fn measure_derivation_time() {
    let start = std::time::Instant::now();
    let _ = ChannelKeys::derive("correct horse battery staple", "acme-1x");
    println!("argon2id-m65536-t3-p4 derivation took {:?}", start.elapsed());
}

#[test]
fn the_key_id_names_the_keys_and_changes_with_the_secret() {
    let keys = cheap("secret", "acme-1x");
    let id = keys.key_id();
    assert_eq!(id.len(), 16);
    assert!(id.bytes().all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()), "{id}");
    assert_eq!(cheap("secret", "acme-1x").key_id(), id, "stable for the same keys");
    assert_ne!(cheap("another secret", "acme-1x").key_id(), id, "a new secret, a new id");
    assert_ne!(cheap("secret", "acme-2y").key_id(), id);
    let master = MasterKey::new(MASTER).unwrap();
    let back = ChannelKeys::unwrap(&master, &keys.wrap(&master, "v1:w"), "v1:w").unwrap();
    assert_eq!(back.key_id(), id, "and the same after storage");
    assert!(!hex::encode(keys.mac_key).contains(&id) && !hex::encode(keys.root).contains(&id));
}
