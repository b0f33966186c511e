//! Verifying bearer tokens. Even first byte: the rest is the token as a caller sends it
//! (must never verify: nobody but the issuer below holds its key). Odd: the rest is a JSON
//! claims object signed by the embedded issuer, so every claim check sees arbitrary values;
//! a token that verifies must carry the expected issuer, audience and a subject.
#![no_main]

use airlock_api::issuer::LocalIssuer;
use airlock_api::Verifier;
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

const ISSUER: &str = "http://issuer.fuzz";
const AUDIENCE: &str = "airlock-fuzz";

struct Fixture {
    issuer: LocalIssuer,
    verifier: Verifier,
    runtime: tokio::runtime::Runtime,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("airlock-fuzz-issuer-{}", std::process::id()));
        let issuer = LocalIssuer::open(&dir, ISSUER, AUDIENCE).expect("an issuer key");
        let verifier = Verifier::fixed(ISSUER, AUDIENCE, &issuer.jwks());
        let runtime = tokio::runtime::Builder::new_current_thread().build().expect("a runtime");
        Fixture { issuer, verifier, runtime }
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else { return };
    let f = fixture();
    if mode & 1 == 0 {
        let Ok(header) = std::str::from_utf8(rest) else { return };
        let verified = f.runtime.block_on(f.verifier.verify_header(Some(header)));
        assert!(verified.is_err(), "a token not signed by the issuer verified");
        return;
    }
    let Ok(claims) = serde_json::from_slice::<serde_json::Value>(rest) else { return };
    if !claims.is_object() {
        return;
    }
    let token = f.issuer.sign(&claims);
    if let Ok(caller) = f.runtime.block_on(f.verifier.verify(&token)) {
        assert_eq!(claims["iss"], ISSUER);
        assert!(!caller.sub.is_empty());
    }
});
