//! The `airlock-api` binary: `mint-token` signs with the same key a running api trusts,
//! and `serve` refuses to start without a token issuer.

mod common;

use common::*;
use std::process::Command;

const BINARY: &str = env!("CARGO_BIN_EXE_airlock-api");

#[tokio::test]
async fn mint_token_signs_tokens_the_api_accepts() {
    let s = single().await;
    let output = Command::new(BINARY)
        .args(["mint-token", "--sub", "alice", "--role", ADMIN, "--role", SERVICE, "--ttl-secs", "120"])
        .env("AIRLOCK_LOCAL_ISSUER_DIR", s.dir.path().join("keys"))
        .env_remove("AIRLOCK_OIDC_JWKS_URL")
        .env_remove("AIRLOCK_OIDC_ISSUER")
        .env_remove("AIRLOCK_OIDC_AUDIENCE")
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let token = String::from_utf8(output.stdout).unwrap();
    assert_eq!(s.http.get("/api/v1/connections", token.trim()).await.status, 200);
}

#[test]
fn mint_token_needs_a_subject_and_known_options() {
    let run = |args: &[&str]| {
        let output =
            Command::new(BINARY).args(args).env("AIRLOCK_LOCAL_ISSUER_DIR", "/nonexistent/keys").output().unwrap();
        assert!(!output.status.success());
        String::from_utf8_lossy(&output.stderr).into_owned()
    };
    assert!(run(&["mint-token", "--role", ADMIN]).contains("--sub is required"));
    assert!(run(&["mint-token", "--sub", "a", "--colour", "red"]).contains("unknown option '--colour'"));
    assert!(
        run(&["mint-token", "--sub", "a", "--ttl-secs", "soon"]).contains("--ttl-secs 'soon' is not a whole number")
    );
    assert!(run(&["frobnicate"]).contains("unknown command 'frobnicate'"));
}

#[test]
fn serve_refuses_to_start_without_a_token_issuer() {
    let output = Command::new(BINARY)
        .arg("serve")
        .env("AIRLOCK_MASTER_SECRET", "m".repeat(40))
        .env_remove("AIRLOCK_LOCAL_ISSUER_DIR")
        .env_remove("AIRLOCK_OIDC_JWKS_URL")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("authentication is never switched off"), "{stderr}");
}
