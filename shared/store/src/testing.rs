//! Test support: real local object-store servers — moto's S3 server (PyPI `moto[server]`)
//! and Azurite's blob service (npm `azurite`) — found running or started on a free port,
//! with a fresh bucket or container for each caller.

use crate::{Scheme, StoreConfig};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Azurite's well-known development account and key (public, documented for the emulator).
pub const AZURITE_ACCOUNT: &str = "devstoreaccount1";
pub const AZURITE_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

/// A local server process, killed on drop when this process started it.
pub struct LocalServer {
    pub endpoint: String,
    child: Option<Child>,
    _dir: Option<tempfile::TempDir>,
}

impl Drop for LocalServer {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl LocalServer {
    /// moto's S3 server: `AIRLOCK_TEST_S3_ENDPOINT` when it answers, else `moto_server` on a free port.
    pub fn s3() -> Result<Self, String> {
        if let Some(found) = reachable_from_env("AIRLOCK_TEST_S3_ENDPOINT") {
            return Ok(found);
        }
        let port = free_port()?;
        let port_text = port.to_string();
        let args = ["-H", "127.0.0.1", "-p", port_text.as_str()];
        // The console script may be missing from PATH (a pyenv shim not rehashed yet);
        // the module runs the same server.
        let child = spawn("moto_server", &args)
            .or_else(|_| spawn("python3", &[&["-m", "moto.server"][..], &args[..]].concat()))?;
        Self::started(format!("http://127.0.0.1:{port}"), port, child, None)
    }

    /// Azurite's blob service: `AIRLOCK_TEST_AZURITE_ENDPOINT` (an account URL such as
    /// http://127.0.0.1:10000/devstoreaccount1) when it answers, else `azurite-blob` on a free port.
    pub fn azurite() -> Result<Self, String> {
        if let Some(found) = reachable_from_env("AIRLOCK_TEST_AZURITE_ENDPOINT") {
            return Ok(found);
        }
        let port = free_port()?;
        let dir = tempfile::tempdir().map_err(|e| format!("temporary directory: {e}"))?;
        let location = dir.path().to_string_lossy().into_owned();
        let args = [
            "--blobHost",
            "127.0.0.1",
            "--blobPort",
            &port.to_string(),
            "--location",
            &location,
            "--silent",
            "--skipApiVersionCheck",
            "--loose",
        ];
        let child = spawn("azurite-blob", &args)?;
        Self::started(format!("http://127.0.0.1:{port}/{AZURITE_ACCOUNT}"), port, child, Some(dir))
    }

    fn started(endpoint: String, port: u16, child: Child, dir: Option<tempfile::TempDir>) -> Result<Self, String> {
        let server = LocalServer { endpoint, child: Some(child), _dir: dir };
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if Instant::now() >= deadline {
                return Err(format!("server for {} did not listen within 30 s", server.endpoint));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(server)
    }

    /// A new, empty S3 bucket on this (moto) server, and the store settings for it.
    pub fn new_bucket(&self, label: &str) -> Result<StoreConfig, String> {
        let name = format!("airlock-test-{}", uuid_like());
        let (host, _) = host_and_path(&self.endpoint);
        let request = format!("PUT /{name} HTTP/1.1\r\nHost: {host}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        expect_2xx(&host, &request)?;
        Ok(StoreConfig {
            label: label.into(),
            scheme: Scheme::S3,
            name,
            endpoint_url: Some(self.endpoint.clone()),
            region: Some("us-east-1".into()),
            access_key: Some("testing".into()),
            secret_key: Some("testing".into()),
        })
    }

    /// A new, empty container on this (Azurite) server, and the store settings for it.
    pub fn new_container(&self, label: &str) -> Result<StoreConfig, String> {
        let name = format!("airlock-test-{}", uuid_like());
        let (host, path) = host_and_path(&self.endpoint);
        let resource_path = format!("{path}/{name}");
        let date = httpdate_now();
        let version = "2021-08-06";
        // Shared Key signature for Create Container: only the date and version headers are
        // signed besides the verb; the resource names the account, then the request path.
        let string_to_sign = format!(
            "PUT\n\n\n\n\n\n\n\n\n\n\n\nx-ms-date:{date}\nx-ms-version:{version}\n/{AZURITE_ACCOUNT}{resource_path}\nrestype:container"
        );
        let signature = sign(AZURITE_KEY, &string_to_sign)?;
        let request = format!(
            "PUT {resource_path}?restype=container HTTP/1.1\r\nHost: {host}\r\nx-ms-date: {date}\r\nx-ms-version: {version}\r\n\
             Authorization: SharedKey {AZURITE_ACCOUNT}:{signature}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        );
        expect_2xx(&host, &request)?;
        Ok(StoreConfig {
            label: label.into(),
            scheme: Scheme::Wasbs,
            name,
            endpoint_url: Some(self.endpoint.clone()),
            region: None,
            access_key: Some(AZURITE_ACCOUNT.into()),
            secret_key: Some(AZURITE_KEY.into()),
        })
    }
}

fn reachable_from_env(var: &str) -> Option<LocalServer> {
    let endpoint = std::env::var(var).ok()?;
    let (host, _) = host_and_path(&endpoint);
    TcpStream::connect(&host).ok()?;
    Some(LocalServer { endpoint, child: None, _dir: None })
}

fn spawn(program: &str, args: &[&str]) -> Result<Child, String> {
    Command::new(program)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("starting '{program}' failed: {e} (is it installed? .ci/run installs it)"))
}

fn free_port() -> Result<u16, String> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("finding a free port: {e}"))
}

fn host_and_path(endpoint: &str) -> (String, String) {
    let rest = endpoint.split_once("://").map(|(_, r)| r).unwrap_or(endpoint);
    match rest.split_once('/') {
        Some((host, path)) => (host.to_owned(), format!("/{}", path.trim_end_matches('/'))),
        None => (rest.to_owned(), String::new()),
    }
}

fn expect_2xx(host: &str, request: &str) -> Result<(), String> {
    let mut stream = TcpStream::connect(host).map_err(|e| format!("connecting to {host}: {e}"))?;
    stream.set_read_timeout(Some(Duration::from_secs(10))).ok();
    stream.write_all(request.as_bytes()).map_err(|e| format!("sending to {host}: {e}"))?;
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    let status = response.lines().next().unwrap_or_default().to_owned();
    if status.split(' ').nth(1).is_some_and(|code| code.starts_with('2')) {
        Ok(())
    } else {
        Err(format!("{host} answered '{status}' to {}", request.lines().next().unwrap_or_default()))
    }
}

fn sign(key_base64: &str, text: &str) -> Result<String, String> {
    use base64::Engine;
    use hmac::{Hmac, Mac};
    let engine = base64::engine::general_purpose::STANDARD;
    let key = engine.decode(key_base64).map_err(|e| format!("account key is not base64: {e}"))?;
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(&key).map_err(|e| e.to_string())?;
    mac.update(text.as_bytes());
    Ok(engine.encode(mac.finalize().into_bytes()))
}

fn httpdate_now() -> String {
    let format = time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    time::OffsetDateTime::now_utc().format(&format).expect("date formats")
}

fn uuid_like() -> String {
    use rand::Rng;
    let n: u64 = rand::thread_rng().gen();
    format!("{n:016x}")
}
