//! A first run in the browser: two fresh `airlock serve` platforms (the default level only,
//! no tags, no users), one directory as A's outbox and B's inbox.
//!
//! Each operator signs in, is told the admin pages need their Secure Connections flag and
//! turns it on from the refusal, then creates the levels and the tag on the Platform page;
//! A's operator clears themselves and creates the sending connection, B's the receiving one
//! with its credentials, and adds Dana as an owner. A's operator uploads and shares a
//! classified file; after the syncs it is at B, where Dana (created on her first sign-in,
//! so uncleared) does not see it, until B's operator grants her the level and the tag on
//! the Users tab. The audit list shows the change.
//!
//! Needs Debian's `chromium` and `chromium-driver`; see tests/browser.rs for the switches.

#[macro_use]
mod browser_support;

use airlock_local::serve::{self, ServeOptions, Served};
use anyhow::{anyhow, ensure, Result};
use browser_support::{browser_wanted, open_browser, row, tid, Ui, ADMIN_ROLE, HOUR, SYNC_WAIT, WAIT};
use fantoccini::Locator;
use std::path::Path;
use std::time::Instant;

const LEVEL: &str = "CONFIDENTIAL";
const TAG: &str = "ITAR";
const DANA: &str = "dana";

/// A fresh `airlock serve` on a free port: nothing but what serve and the api create
/// themselves, with `exchange` as one of its stores.
async fn fresh_serve(dir: &Path, name: &str, exchange: (&str, &Path)) -> Result<Served> {
    let mut options = ServeOptions::new(dir.join(format!("serve-{name}")));
    options.port = 0;
    options.stores.push((exchange.0.to_owned(), exchange.1.to_owned()));
    serve::start(options).await.map_err(|e| anyhow!("airlock serve {name} did not start: {e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_run_sets_up_a_platform_and_clearance_gates_a_received_file() -> Result<()> {
    if !browser_wanted()? {
        return Ok(());
    }
    let started = Instant::now();
    let dir = tempfile::tempdir()?;
    let exchange = dir.path().join("exchange");
    std::fs::create_dir_all(&exchange)?;
    let api_a = fresh_serve(dir.path(), "a", ("OUTBOX", &exchange)).await?;
    let api_b = fresh_serve(dir.path(), "b", ("INBOX", &exchange)).await?;

    let (driver, ui) = open_browser(dir.path()).await?;
    let outcome = first_run(&ui, &api_a, &api_b, dir.path()).await;
    if outcome.is_err() {
        let _ = ui.screenshot(&dir.path().join("failure.png")).await;
    }
    let _ = ui.c.clone().close().await;
    drop(driver);
    if std::env::var_os("AIRLOCK_KEEP_BROWSER_ARTIFACTS").is_some() {
        let kept = dir.keep();
        eprintln!("browser test artifacts kept in {}", kept.display());
    }
    outcome?;
    eprintln!("first-run browser test took {:?}", started.elapsed());
    Ok(())
}

fn level_row(name: &str) -> String {
    format!("tr[data-testid=\"level-row\"][data-name=\"{name}\"]")
}

fn user_row(id: &str) -> String {
    format!("tr[data-testid=\"user-row\"][data-id=\"{id}\"]")
}

fn file_row(name: &str) -> String {
    format!("tr[data-testid=\"file-row\"][data-name=\"{name}\"]")
}

/// The operator's first visit: the refusal names the flag, the button turns it on, and the
/// Platform page shows a fresh platform, on which infosec is switched on if it is not.
async fn enable_and_set_up(ui: &Ui, api: &Served, token: &str, operator: &str) -> Result<()> {
    ui.goto(&format!("{}/admin/platform#token={token}", api.url)).await?;
    let refusal = ui.text_with(&tid("page-error"), "403", WAIT).await?;
    ensure!(
        refusal.contains("secure connections is not enabled") && refusal.contains(operator),
        "the refusal names the flag and the user: {refusal}"
    );
    ui.click(&tid("enable-secure-connections")).await?;
    ui.wait(&tid("levels-card")).await?;
    let levels = ui.c.find_all(Locator::Css(&tid("level-row"))).await?;
    check_eq!(levels.len(), 1, "a fresh platform has only its default level");
    let infosec = ui.wait(&tid("infosec-enabled")).await?;
    if !infosec.is_selected().await? {
        ui.click(&tid("infosec-enabled")).await?;
        ui.text_with(&tid("notice"), "Infosec is now on", WAIT).await?;
    }

    // Checked in the page first: a name with no order.
    ui.fill(&tid("level-new-name"), LEVEL).await?;
    ui.click(&tid("level-add")).await?;
    ui.text_with(&tid("err-level-order"), "Enter the order", WAIT).await?;
    ui.fill(&tid("level-new-order"), "10").await?;
    ui.click(&tid("level-add")).await?;
    ui.wait(&level_row(LEVEL)).await?;
    ui.choose(&tid("max-level"), LEVEL).await?;
    ui.click(&tid("max-level-save")).await?;
    ui.text_with(&tid("notice"), &format!("max level is now {LEVEL}"), WAIT).await?;

    ui.click(&tid("ptab-tags")).await?;
    ui.wait(&tid("tags-empty")).await?;
    ui.fill(&tid("tag-new-name"), "NOT A TAG").await?;
    ui.click(&tid("tag-add")).await?;
    ui.text_with(&tid("err-tag-name"), "spaces", WAIT).await?;
    ui.fill(&tid("tag-new-name"), TAG).await?;
    ui.click(&tid("tag-add")).await?;
    ui.wait(&format!("tr[data-testid=\"tag-row\"][data-tag=\"{TAG}\"][data-active=\"true\"]")).await?;
    Ok(())
}

/// On the Users tab: finds the user and gives them the level and the tag.
async fn clear_user(ui: &Ui, api: &Served, token: &str, id: &str) -> Result<()> {
    ui.goto(&format!("{}/admin/platform?tab=users#token={token}", api.url)).await?;
    ui.fill(&tid("users-search"), id).await?;
    ui.click(&format!("{} {}", user_row(id), tid("user-edit"))).await?;
    ui.wait(&tid("user-dialog")).await?;
    ui.choose(&tid("user-level-choice"), LEVEL).await?;
    ui.click(&tid(&format!("user-tag-{TAG}"))).await?;
    ui.click(&tid("user-save")).await?;
    ui.gone(&tid("user-dialog")).await?;
    let clearance = ui.text_with(&format!("{} {}", user_row(id), tid("user-clearance")), LEVEL, WAIT).await?;
    ensure!(clearance.contains(TAG), "the list shows the new clearance: {clearance}");
    Ok(())
}

async fn sync_row(ui: &Ui, row_css: &str, expect: &str) -> Result<()> {
    ui.click(&format!("{row_css} {}", tid("sync-now"))).await?;
    ui.text_with(&format!("{row_css} {}", tid("sync-state")), expect, SYNC_WAIT).await?;
    Ok(())
}

fn file_action(name: &str, action: &str) -> [String; 2] {
    [format!("{} {}", file_row(name), tid("file-actions")), format!("{} {}", file_row(name), tid(action))]
}

async fn open_file_action(ui: &Ui, name: &str, action: &str) -> Result<()> {
    let [menu, item] = file_action(name, action);
    ui.click(&menu).await?;
    ui.click(&item).await
}

/// The owner's file actions at A: the shared file's share and a new revision; a draft
/// given the level and tag after its upload, then shared and unshared again.
async fn file_actions(ui: &Ui, dir: &Path) -> Result<()> {
    open_file_action(ui, "wing-loads.csv", "file-action-shares").await?;
    ui.text_with(&tid("shares-list"), "To partner B", WAIT).await?;
    ui.click(&format!("{} {}", tid("shares-dialog"), tid("dlg-cancel"))).await?;
    ui.gone(&tid("shares-dialog")).await?;

    let revision = dir.join("wing-loads-2.csv");
    std::fs::write(&revision, b"station,load\n1,4200\n2,3900\n")?;
    open_file_action(ui, "wing-loads.csv", "file-action-revision").await?;
    ui.click(&tid("revision-submit")).await?; // no file chosen: refused in the page
    ui.text_with(&tid("revision-error"), "Choose the file", WAIT).await?;
    ui.wait(&tid("revision-file")).await?.send_keys(&revision.display().to_string()).await?;
    ui.click(&tid("revision-submit")).await?;
    ui.gone(&tid("revision-dialog")).await?;
    open_file_action(ui, "wing-loads.csv", "file-action-revisions").await?;
    let deadline = Instant::now() + WAIT;
    while ui.c.find_all(Locator::Css(&tid("revision-row"))).await?.len() != 2 {
        ensure!(Instant::now() < deadline, "the revisions dialog lists both revisions");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    ui.click(&format!("{} {}", tid("revisions-dialog"), tid("dlg-cancel"))).await?;
    ui.gone(&tid("revisions-dialog")).await?;

    let draft = dir.join("draft.txt");
    std::fs::write(&draft, b"not for the partner yet")?;
    ui.choose(&tid("upload-level"), "UNCLASSIFIED").await?;
    ui.click(&tid(&format!("upload-tag-{TAG}"))).await?; // was left ticked by the first upload
    ui.wait(&tid("upload-file")).await?.send_keys(&draft.display().to_string()).await?;
    ui.click(&tid("upload-submit")).await?;
    ui.text_with(&tid("upload-status"), "Uploaded draft.txt", WAIT).await?;
    open_file_action(ui, "draft.txt", "file-action-classify").await?;
    ui.choose(&tid("classify-level"), LEVEL).await?;
    ui.click(&tid(&format!("classify-tag-{TAG}"))).await?;
    ui.click(&tid("classify-save")).await?;
    ui.gone(&tid("classify-dialog")).await?;
    ui.text_with(&format!("{} {}", file_row("draft.txt"), tid("file-level")), LEVEL, WAIT).await?;
    ui.text_with(&format!("{} {}", file_row("draft.txt"), tid("file-tags")), TAG, WAIT).await?;
    ui.click(&format!("{} {}", file_row("draft.txt"), tid("file-share"))).await?;
    ui.choose_label(&tid("share-target"), "To partner B").await?;
    ui.click(&tid("share-certify")).await?;
    ui.click(&tid("share-submit")).await?;
    ui.gone(&tid("share-dialog")).await?;
    open_file_action(ui, "draft.txt", "file-action-shares").await?;
    ui.click(&format!("{}[data-connection=\"To partner B\"] {}", tid("share"), tid("share-remove"))).await?;
    ui.wait(&tid("shares-empty")).await?;
    ui.screenshot(&dir.join("first-run-shares.png")).await?;
    ui.click(&format!("{} {}", tid("shares-dialog"), tid("dlg-cancel"))).await?;
    ui.gone(&tid("shares-dialog")).await?;
    Ok(())
}

async fn first_run(ui: &Ui, api_a: &Served, api_b: &Served, dir: &Path) -> Result<()> {
    let op_a = api_a.mint("operator-a", &[ADMIN_ROLE], HOUR);
    let op_b = api_b.mint("operator-b", &[ADMIN_ROLE], HOUR);
    let dana = api_b.mint(DANA, &[], HOUR);

    // A: the platform, the operator's own clearance (to upload at CONFIDENTIAL), and one
    // server refusal shown as it comes: the default level has users depending on it.
    enable_and_set_up(ui, api_a, &op_a, "operator-a").await?;
    ui.click(&tid("ptab-classification")).await?;
    ui.click(&format!("{} {}", level_row("UNCLASSIFIED"), tid("level-edit"))).await?;
    ui.fill(&tid("level-edit-order"), "-5").await?;
    ui.click(&tid("level-save")).await?;
    let refused = ui.text_with(&tid("level-edit-error"), "409", WAIT).await?;
    ensure!(refused.contains("UNCLASSIFIED"), "the refusal names the level: {refused}");
    ui.click(&format!("{} {}", tid("level-dialog"), tid("dlg-cancel"))).await?;
    clear_user(ui, api_a, &op_a, "operator-a").await?;
    ui.screenshot(&dir.join("first-run-users.png")).await?;

    // A: the sending connection, permitted the new level and tag.
    ui.goto(&format!("{}/admin/secure-connections#token={op_a}", api_a.url)).await?;
    ui.wait(&tid("connections-empty")).await?;
    ui.click(&tid("add-connection")).await?;
    ui.click(&tid("add-sending")).await?;
    ui.fill(&tid("dlg-name"), "To partner B").await?;
    ui.choose(&tid("dlg-store"), "OUTBOX").await?;
    ui.fill(&tid("dlg-shared-id"), "first-run").await?;
    // The secret is left to be generated (the default) and read off the credentials screen.
    ui.choose(&tid("dlg-level"), LEVEL).await?;
    ui.click(&tid(&format!("dlg-tag-{TAG}"))).await?;
    ui.click(&tid("dlg-certify")).await?;
    ui.click(&tid("dlg-submit")).await?;
    let shared_id = ui.text(&tid("cred-shared-id")).await?;
    ui.click(&tid("cred-reveal")).await?;
    let secret = ui.text(&tid("cred-secret")).await?;
    ui.click(&tid("cred-done")).await?;

    // A: the operator uploads a classified file and shares it.
    let file = dir.join("wing-loads.csv");
    std::fs::write(&file, b"station,load\n1,4200\n")?;
    ui.goto(&format!("{}/files#token={op_a}", api_a.url)).await?;
    ui.choose(&tid("upload-level"), LEVEL).await?;
    ui.click(&tid(&format!("upload-tag-{TAG}"))).await?;
    ui.wait(&tid("upload-file")).await?.send_keys(&file.display().to_string()).await?;
    ui.click(&tid("upload-submit")).await?;
    ui.text_with(&tid("upload-status"), "Uploaded wing-loads.csv", WAIT).await?;
    ui.click(&format!("{} {}", file_row("wing-loads.csv"), tid("file-share"))).await?;
    ui.choose_label(&tid("share-target"), "To partner B").await?;
    ui.click(&tid("share-certify")).await?;
    ui.click(&tid("share-submit")).await?;
    ui.text_with(&tid("notice"), "is shared with", WAIT).await?;
    file_actions(ui, dir).await?;
    ui.goto(&format!("{}/admin/secure-connections#token={op_a}", api_a.url)).await?;
    sync_row(ui, &row("To partner B"), "Last sync: success").await?;

    // B: the same scale; Dana signs in once (which makes her a registry user, uncleared).
    enable_and_set_up(ui, api_b, &op_b, "operator-b").await?;
    ui.screenshot(&dir.join("first-run-tags.png")).await?;
    ui.goto(&format!("{}/files#token={dana}", api_b.url)).await?;
    ui.wait(&tid("files-empty")).await?;

    // B: the receiving connection, Dana as an owner, a rule for A's tag, the syncs.
    ui.goto(&format!("{}/admin/secure-connections?tab=receiving#token={op_b}", api_b.url)).await?;
    ui.click(&tid("add-connection")).await?;
    ui.click(&tid("add-receiving")).await?;
    ui.fill(&tid("dlg-name"), "From partner A").await?;
    ui.choose(&tid("dlg-store"), "INBOX").await?;
    ui.fill(&tid("dlg-shared-id"), &shared_id).await?;
    ui.fill(&tid("dlg-secret"), &secret).await?;
    ui.click(&tid("dlg-submit")).await?;
    ui.gone(&tid("connection-dialog")).await?;
    let b_row = row("From partner A");
    ui.click(&format!("{b_row} {}", tid("row-actions"))).await?;
    ui.click(&format!("{b_row} {}", tid("action-owners"))).await?;
    ui.fill(&tid("owner-search"), DANA).await?;
    ui.click(&format!("{}[data-id=\"{DANA}\"]", tid("owner-add"))).await?;
    ui.click(&tid("owners-save")).await?;
    ui.gone(&tid("owners-dialog")).await?;
    sync_row(ui, &b_row, "Last sync: failure").await?;
    ui.click(&format!("{b_row} {}", tid("transform-count"))).await?;
    ui.choose(&tid("tf-kind"), "map").await?;
    ui.choose(&tid("tf-predicate"), TAG).await?;
    ui.choose(&tid("tf-value"), TAG).await?;
    ui.fill(&tid("tf-description"), "the partner's ITAR is ours").await?;
    ui.click(&tid("tf-add")).await?;
    ui.click(&tid("tf-save")).await?;
    ui.gone(&tid("transform-dialog")).await?;
    sync_row(ui, &b_row, "Last sync: success, 1 file updated").await?;

    // Dana owns the connection but holds neither the level nor the tag: nothing to see.
    ui.goto(&format!("{}/files#token={dana}", api_b.url)).await?;
    ui.wait(&tid("files-empty")).await?;

    clear_user(ui, api_b, &op_b, DANA).await?;
    ui.goto(&format!("{}/files#token={dana}", api_b.url)).await?;
    let arrived = ui.wait(&file_row("wing-loads.csv")).await?;
    let text = arrived.text().await?;
    ensure!(text.contains(LEVEL) && text.contains("Received"), "Dana sees the received file: {text}");
    ui.screenshot(&dir.join("first-run-files.png")).await?;

    // The change is on the audit list: who did it, to whom.
    ui.goto(&format!("{}/admin/platform?tab=audit#token={op_b}", api_b.url)).await?;
    let entry = ui.text_with(&tid("audit-row"), DANA, WAIT).await?;
    ensure!(entry.contains("operator-b"), "the audit entry names who changed Dana's clearance: {entry}");
    ui.screenshot(&dir.join("first-run-audit.png")).await?;
    let range = ui.text(&tid("audit-range")).await?;
    ensure!(range.starts_with("1–"), "the audit list pages from the newest: {range}");
    Ok(())
}
