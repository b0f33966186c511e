//! Test support: a reachable NATS server with JetStream, for every suite that needs one.

use std::net::{SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A reachable nats-server; one this test started is killed on drop.
pub struct NatsServer {
    pub url: String,
    child: Option<Child>,
    _store: Option<tempfile::TempDir>,
}

impl NatsServer {
    /// `AIRLOCK_TEST_NATS_URL` (default nats://127.0.0.1:4222) when something listens
    /// there, else a nats-server of its own on a free port, killed on drop.
    pub fn find_or_start() -> Result<Self, String> {
        let url = std::env::var("AIRLOCK_TEST_NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".to_owned());
        if listening(&url) {
            return Ok(NatsServer { url, child: None, _store: None });
        }
        let store = tempfile::tempdir().map_err(|e| format!("temporary directory: {e}"))?;
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| format!("finding a free port: {e}"))?
            .port();
        let binary = ["/usr/sbin/nats-server", "/usr/bin/nats-server"]
            .into_iter()
            .find(|path| std::path::Path::new(path).exists())
            .unwrap_or("nats-server");
        let child = Command::new(binary)
            .args(["-js", "-a", "127.0.0.1", "-p", &port.to_string(), "-sd"])
            .arg(store.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|err| format!("starting '{binary}' failed: {err}"))?;
        let server = NatsServer { url: format!("nats://127.0.0.1:{port}"), child: Some(child), _store: Some(store) };
        let deadline = Instant::now() + Duration::from_secs(10);
        while !listening(&server.url) {
            if Instant::now() >= deadline {
                return Err(format!("nats-server on port {port} did not start within 10 s"));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(server)
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn listening(url: &str) -> bool {
    let host_port = url.trim_start_matches("nats://");
    let Ok(addrs) = host_port.to_socket_addrs() else {
        return false;
    };
    addrs
        .collect::<Vec<SocketAddr>>()
        .iter()
        .any(|addr| TcpStream::connect_timeout(addr, Duration::from_millis(300)).is_ok())
}
