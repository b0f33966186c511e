//! What the browser tests share: chromedriver and headless Chromium, the page driven by
//! `data-testid` as a person uses it, and an api server started on a platform's context.

#![allow(dead_code, unused_macros)] // each test file uses its own part of this

use airlock_api::{ApiConfig, AuthConfig, RunningApi};
use anyhow::{anyhow, bail, Context as _, Result};
use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::json;
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// `assert_eq!` that returns an error instead, so the browser is closed on the way out.
macro_rules! check_eq {
    ($left:expr, $right:expr $(,)?) => {
        check_eq!($left, $right, "values differ")
    };
    ($left:expr, $right:expr, $($what:tt)+) => {
        match (&$left, &$right) {
            (left, right) => anyhow::ensure!(left == right, "{}: {:?} != {:?}", format!($($what)+), left, right),
        }
    };
}

pub const CHROMIUM: &str = "/usr/bin/chromium";
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
pub const WAIT: Duration = Duration::from_secs(15);
pub const SYNC_WAIT: Duration = Duration::from_secs(45);
pub const ADMIN_ROLE: &str = "airlock_admin";
pub const HOUR: Duration = Duration::from_secs(3600);

/// chromedriver on a free loopback port, killed when dropped.
pub struct Driver {
    child: Child,
    url: String,
}

impl Driver {
    pub fn start(log: &Path) -> Result<Driver> {
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let child = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .arg(format!("--log-path={}", log.display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("starting {CHROMEDRIVER}"))?;
        Ok(Driver { child, url: format!("http://127.0.0.1:{port}") })
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub async fn browser(driver: &Driver, profile: &Path) -> Result<Client> {
    let args = [
        "--headless=new".to_string(),
        "--no-sandbox".into(),
        "--disable-gpu".into(),
        "--disable-dev-shm-usage".into(),
        "--disable-background-networking".into(),
        "--disable-component-update".into(),
        "--disable-sync".into(),
        "--no-first-run".into(),
        "--window-size=1440,1000".into(),
        format!("--user-data-dir={}", profile.display()),
    ];
    let capabilities = json!({
        "browserName": "chrome",
        "goog:chromeOptions": { "binary": CHROMIUM, "args": args },
    });
    let serde_json::Value::Object(capabilities) = capabilities else { unreachable!() };
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match ClientBuilder::new(HttpConnector::new()).capabilities(capabilities.clone()).connect(&driver.url).await {
            Ok(client) => return Ok(client),
            Err(_) if Instant::now() < deadline => tokio::time::sleep(Duration::from_millis(200)).await,
            Err(e) => bail!("no WebDriver session from chromedriver at {}: {e}", driver.url),
        }
    }
}

/// The page as a person uses it: find by `data-testid`, wait for things to appear.
pub struct Ui {
    pub c: Client,
}

pub fn tid(id: &str) -> String {
    format!("[data-testid=\"{id}\"]")
}

impl Ui {
    pub async fn goto(&self, url: &str) -> Result<()> {
        self.c.goto(url).await.with_context(|| format!("opening {url}"))
    }

    pub async fn wait(&self, css: &str) -> Result<Element> {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Ok(el) = self.c.find(Locator::Css(css)).await {
                if el.is_displayed().await.unwrap_or(false) {
                    return Ok(el);
                }
            }
            if Instant::now() >= deadline {
                bail!("'{css}' did not appear within {WAIT:?}; page text:\n{}", self.body_text().await);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub async fn gone(&self, css: &str) -> Result<()> {
        let deadline = Instant::now() + WAIT;
        while Instant::now() < deadline {
            let mut visible = false;
            for el in self.c.find_all(Locator::Css(css)).await.unwrap_or_default() {
                visible |= el.is_displayed().await.unwrap_or(false);
            }
            if !visible {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        bail!("'{css}' is still shown after {WAIT:?}")
    }

    /// Waits until the element's text contains `needle`, returns the text.
    pub async fn text_with(&self, css: &str, needle: &str, within: Duration) -> Result<String> {
        let deadline = Instant::now() + within;
        let mut last = String::new();
        loop {
            for el in self.c.find_all(Locator::Css(css)).await.unwrap_or_default() {
                if let Ok(text) = el.text().await {
                    if text.contains(needle) {
                        return Ok(text);
                    }
                    last = text;
                }
            }
            if Instant::now() >= deadline {
                bail!(
                    "'{css}' never showed '{needle}' within {within:?} (last: '{last}'); page text:\n{}",
                    self.body_text().await
                );
            }
            tokio::time::sleep(Duration::from_millis(150)).await;
        }
    }

    /// Finds the element and acts on it, again if the page re-rendered it in between
    /// (a stale element) or something briefly covered it.
    pub async fn act<T, F, Fut>(&self, css: &str, what: &str, action: F) -> Result<T>
    where
        F: Fn(Element) -> Fut,
        Fut: std::future::Future<Output = Result<T, fantoccini::error::CmdError>>,
    {
        let deadline = Instant::now() + WAIT;
        loop {
            let el = self.wait(css).await?;
            match action(el).await {
                Ok(value) => return Ok(value),
                Err(e) if Instant::now() < deadline => {
                    let _ = e;
                    tokio::time::sleep(Duration::from_millis(150)).await;
                }
                Err(e) => return Err(anyhow!("{what} '{css}': {e}")),
            }
        }
    }

    pub async fn click(&self, css: &str) -> Result<()> {
        self.act(css, "clicking", |el| async move { el.click().await }).await
    }

    pub async fn fill(&self, css: &str, text: &str) -> Result<()> {
        self.act(css, "typing into", |el| async move {
            el.clear().await?;
            el.send_keys(text).await
        })
        .await
    }

    pub async fn choose(&self, css: &str, value: &str) -> Result<()> {
        self.act(css, &format!("choosing '{value}' in"), |el| async move { el.select_by_value(value).await }).await
    }

    pub async fn choose_label(&self, css: &str, label: &str) -> Result<()> {
        self.act(css, &format!("choosing '{label}' in"), |el| async move { el.select_by_label(label).await }).await
    }

    pub async fn text(&self, css: &str) -> Result<String> {
        self.act(css, "reading", |el| async move { el.text().await }).await
    }

    pub async fn body_text(&self) -> String {
        match self.c.find(Locator::Css("body")).await {
            Ok(body) => body.text().await.unwrap_or_default(),
            Err(e) => format!("(no body: {e})"),
        }
    }

    pub async fn screenshot(&self, path: &Path) -> Result<()> {
        let png = self.c.screenshot().await?;
        std::fs::write(path, png)?;
        Ok(())
    }
}

pub fn row(name: &str) -> String {
    format!("tr[data-testid=\"connection-row\"][data-name=\"{name}\"]")
}

pub async fn start_api(pair_ctx: Arc<airlock_runtime::Context>, dir: &Path, name: &str) -> Result<RunningApi> {
    let config = ApiConfig {
        bind: "127.0.0.1:0".parse()?,
        auth: AuthConfig::Local {
            key_dir: dir.join(format!("issuer-{name}")),
            issuer: "airlock-local".into(),
            audience: "airlock".into(),
        },
        admin_role: ADMIN_ROLE.into(),
        service_role: "rss_service_user".into(),
        clearance_claims: Default::default(),
    };
    airlock_api::start(pair_ctx, config).await.map_err(|e| anyhow!("api {name} did not start: {e}"))
}

pub fn browser_missing() -> Option<String> {
    for path in [CHROMIUM, CHROMEDRIVER] {
        if !Path::new(path).exists() {
            return Some(format!("{path} is missing: apt-get install -y chromium chromium-driver"));
        }
    }
    None
}

/// False when `AIRLOCK_SKIP_BROWSER_TESTS` is set; an error when Chromium is not installed.
pub fn browser_wanted() -> Result<bool> {
    if std::env::var_os("AIRLOCK_SKIP_BROWSER_TESTS").is_some() {
        eprintln!("AIRLOCK_SKIP_BROWSER_TESTS is set: browser test skipped");
        return Ok(false);
    }
    if let Some(missing) = browser_missing() {
        bail!("{missing}");
    }
    Ok(true)
}

/// chromedriver and one browser session with its own profile under `dir`.
pub async fn open_browser(dir: &Path) -> Result<(Driver, Ui)> {
    let driver = Driver::start(&dir.join("chromedriver.log"))?;
    let profile = dir.join("chromium-profile");
    std::fs::create_dir_all(&profile)?;
    let ui = Ui { c: browser(&driver, &profile).await? };
    Ok((driver, ui))
}
