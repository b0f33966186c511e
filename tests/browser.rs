//! The web admin page in a real browser: headless Chromium driven over WebDriver
//! (chromedriver) against two embedded platforms, each with its own api server.
//!
//! An administrator of A creates a sending connection through the Add dialog and reads its
//! credentials from the credentials screen; an administrator of B creates the matching
//! receiving connection with them. Alice uploads a file at A and shares it through the
//! Share dialog. A's connection syncs from its row; B's first sync fails on the partner's
//! uncovered ITAR tag, B's admin adds the rules in the Transform Config dialog, and the
//! next sync brings the file in, which the Sync Status page shows. B's admin then adds an
//! owner, edits the description, sorts the table and archives the older connection. A
//! non-admin token gets the 403 message on the admin page, a bad token the 401 one and the
//! sign-in box.
//!
//! Needs Debian's `chromium` and `chromium-driver` (see .ci/run). Set
//! `AIRLOCK_SKIP_BROWSER_TESTS=1` to skip on a machine without them, and
//! `AIRLOCK_KEEP_BROWSER_ARTIFACTS=1` to keep the screenshots (the path is printed).

#[macro_use]
mod browser_support;

use airlock_api::RunningApi;
use airlock_local::pair::{Pair, PairSetup, ALICE, BOB, CAROL};
use anyhow::{anyhow, bail, ensure, Context as _, Result};
use browser_support::{browser_wanted, open_browser, row, start_api, tid, Ui, ADMIN_ROLE, HOUR, SYNC_WAIT, WAIT};
use fantoccini::Locator;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_page_sets_up_a_connection_pair_and_shows_its_sync() -> Result<()> {
    if !browser_wanted()? {
        return Ok(());
    }
    let started = Instant::now();
    let dir = tempfile::tempdir()?;
    let pair = Pair::start(PairSetup::embedded(dir.path())).await?;
    let api_a = start_api(pair.a.ctx.clone(), dir.path(), "a").await?;
    let api_b = start_api(pair.b.ctx.clone(), dir.path(), "b").await?;
    let admin_a = api_a.mint("admin-a", &[ADMIN_ROLE], HOUR);
    let admin_b = api_b.mint(BOB, &[ADMIN_ROLE], HOUR);
    let alice = api_a.mint(ALICE, &[], HOUR);

    let (driver, ui) = open_browser(dir.path()).await?;

    let outcome = scenario(&ui, &pair, &api_a, &api_b, &admin_a, &admin_b, &alice, dir.path()).await;
    if outcome.is_err() {
        let _ = ui.screenshot(&dir.path().join("failure.png")).await;
    }
    let _ = ui.c.clone().close().await;
    drop(driver);

    let screenshots: Vec<PathBuf> = ["connections.png", "sync-status.png", "failure.png"]
        .iter()
        .map(|f| dir.path().join(f))
        .filter(|p| p.exists())
        .collect();
    if std::env::var_os("AIRLOCK_KEEP_BROWSER_ARTIFACTS").is_some() {
        let kept = dir.keep();
        eprintln!("browser test artifacts kept in {}", kept.display());
    }
    outcome?;
    assert!(screenshots.len() >= 2, "both screenshots were taken: {screenshots:?}");
    eprintln!("browser test took {:?}", started.elapsed());
    Ok(())
}

#[allow(clippy::too_many_arguments)]
async fn scenario(
    ui: &Ui,
    pair: &Pair,
    api_a: &RunningApi,
    api_b: &RunningApi,
    admin_a: &str,
    admin_b: &str,
    alice: &str,
    dir: &Path,
) -> Result<()> {
    let page_a = format!("{}/admin/secure-connections", api_a.url);
    let page_b = format!("{}/admin/secure-connections", api_b.url);

    // A user without the admin role gets the 403 explanation, not a table.
    ui.goto(&format!("{page_a}#token={alice}")).await?;
    let denied = ui.text_with(&tid("page-error"), "403", WAIT).await?;
    ensure!(denied.contains("permission"), "the 403 message says what is missing: {denied}");
    let url = ui.c.current_url().await?;
    ensure!(url.fragment().is_none(), "the token is taken out of the address bar: {url}");

    // A token that is not one: the 401 explanation and the sign-in box, where A's
    // administrator pastes a real token.
    ui.goto(&format!("{page_a}#token=not-a-token")).await?;
    ui.text_with(&tid("page-error"), "401", WAIT).await?;
    ui.fill(&tid("signin-token"), admin_a).await?;
    ui.click(&tid("signin-submit")).await?;
    ui.wait(&row(&pair.sending.name)).await?;
    ensure!(ui.c.find(Locator::Css(&tid("page-error"))).await.is_err(), "no error for the admin");

    // Add → Sending.
    ui.click(&tid("add-connection")).await?;
    ui.click(&tid("add-sending")).await?;
    ui.wait(&tid("connection-dialog")).await?;
    ui.fill(&tid("dlg-name"), "Design exchange with B").await?;
    ui.fill(&tid("dlg-description"), "CAD for the joint wing programme").await?;
    ui.choose(&tid("dlg-store"), "OUTBOX").await?;
    let warning = ui.text_with(&tid("store-warning"), &pair.sending.name, WAIT).await?;
    ensure!(warning.contains("OUTBOX"), "the warning names the shared outbox: {warning}");
    ui.fill(&tid("dlg-shared-id"), "design exchange").await?;
    ui.text_with(&tid("err-shared-id"), "letters, digits", WAIT).await?;
    ui.fill(&tid("dlg-shared-id"), "design-exchange").await?;
    ui.gone(&tid("err-shared-id")).await?;
    // The secret is generated unless the admin chooses to type one, as here.
    let generate = ui.wait(&tid("dlg-secret-generate")).await?;
    ensure!(generate.is_selected().await?, "generating the secret is the default");
    ui.gone(&tid("dlg-secret")).await.context("no secret field until typing is chosen")?;
    ui.screenshot(&dir.join("add-sending.png")).await?;
    ui.click(&tid("dlg-secret-type")).await?;
    let secret = "wing-spar-secret-2026-xyz";
    ui.fill(&tid("dlg-secret"), secret).await?;
    ui.fill(&tid("dlg-secret-confirm"), secret).await?;
    ui.choose(&tid("dlg-level"), "INTERNAL").await?;
    ui.click(&tid("dlg-tag-ITAR")).await?;
    // Without the certification the dialog refuses to create.
    ui.click(&tid("dlg-submit")).await?;
    ui.text_with(&tid("err-certify"), "certification", WAIT).await?;
    ui.click(&tid("dlg-certify")).await?;
    ui.click(&tid("dlg-submit")).await?;

    // The credentials screen, shown once.
    ui.wait(&tid("credentials-dialog")).await?;
    let shared_id = ui.text(&tid("cred-shared-id")).await?;
    ensure!(
        shared_id.starts_with("design-exchange-") && shared_id.len() > "design-exchange-".len(),
        "suffixed: {shared_id}"
    );
    let masked = ui.text(&tid("cred-secret")).await?;
    ensure!(!masked.contains(secret), "the secret is masked at first");
    ui.click(&tid("cred-reveal")).await?;
    let shown = ui.text(&tid("cred-secret")).await?;
    check_eq!(shown, secret, "the credentials screen shows the secret typed");
    ui.click(&tid("cred-done")).await?;
    ui.gone(&tid("credentials-dialog")).await?;
    let new_row = row("Design exchange with B");
    let cell = ui.text(&format!("{new_row} {}", tid("cell-shared-id"))).await?;
    check_eq!(cell, shared_id);
    ui.text_with(&format!("{new_row} {}", tid("cell-tags")), "ITAR", WAIT).await?;

    // B's administrator creates the receiving side with those credentials.
    ui.goto(&format!("{page_b}#token={admin_b}")).await?;
    ui.click(&tid("tab-receiving")).await?;
    ui.wait(&row(&pair.receiving.name)).await?;
    ui.click(&tid("add-connection")).await?;
    ui.click(&tid("add-receiving")).await?;
    ui.wait(&tid("connection-dialog")).await?;
    ui.fill(&tid("dlg-name"), "Design exchange from A").await?;
    ui.choose(&tid("dlg-store"), "INBOX").await?;
    ui.text_with(&tid("store-warning"), &pair.receiving.name, WAIT).await?;
    ui.fill(&tid("dlg-shared-id"), &shared_id).await?;
    ui.fill(&tid("dlg-secret"), &shown).await?;
    ui.click(&tid("dlg-submit")).await?;
    ui.gone(&tid("connection-dialog")).await?;
    let b_row = row("Design exchange from A");
    ui.wait(&b_row).await?;

    // Alice uploads at A and shares through the Share dialog.
    let file = dir.join("spar.step");
    std::fs::write(&file, b"ISO-10303-21; wing spar, revision A")?;
    let export = dir.join("export-list.step");
    std::fs::write(&export, b"ISO-10303-21; export-controlled list")?;
    ui.goto(&format!("{}/files#token={alice}", api_a.url)).await?;
    ui.wait(&tid("upload-fallback-note")).await?; // alice may not list levels: she types them
    for (path, tags) in [(&file, "ITAR"), (&export, "EXPORT-CTRL")] {
        ui.wait(&tid("upload-file")).await?.send_keys(&path.display().to_string()).await?;
        ui.fill(&tid("upload-level-text"), "INTERNAL").await?;
        ui.fill(&tid("upload-tags-text"), tags).await?;
        ui.click(&tid("upload-submit")).await?;
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        ui.text_with(&tid("upload-status"), &format!("Uploaded {name}"), WAIT).await?;
        ui.wait(&format!("tr[data-testid=\"file-row\"][data-name=\"{name}\"]")).await?;
    }
    // A file with a tag the connection does not permit is refused, with the reason.
    ui.click(&format!("tr[data-name=\"export-list.step\"] {}", tid("file-share"))).await?;
    ui.wait(&tid("share-dialog")).await?;
    ui.choose_label(&tid("share-target"), "Design exchange with B").await?;
    ui.click(&tid("share-certify")).await?;
    ui.click(&tid("share-submit")).await?;
    let refusal = ui.text_with(&tid("share-error"), "refused", WAIT).await?;
    ensure!(refusal.contains("EXPORT-CTRL"), "the refusal names the tag: {refusal}");
    ui.click(&format!("{} {}", tid("share-dialog"), tid("dlg-cancel"))).await?;
    ui.gone(&tid("share-dialog")).await?;
    // The spar file goes; the certification is required first.
    ui.click(&format!("tr[data-name=\"spar.step\"] {}", tid("file-share"))).await?;
    ui.wait(&tid("share-dialog")).await?;
    ui.choose_label(&tid("share-target"), "Design exchange with B").await?;
    ui.click(&tid("share-submit")).await?;
    ui.text_with(&tid("share-error"), "certification", WAIT).await?;
    ui.click(&tid("share-certify")).await?;
    ui.click(&tid("share-submit")).await?;
    ui.gone(&tid("share-dialog")).await?;
    ui.text_with(&tid("notice"), "is shared with", WAIT).await?;

    // A publishes: Sync now on the new row.
    ui.goto(&format!("{page_a}#token={admin_a}")).await?;
    let a_row = row("Design exchange with B");
    ui.click(&format!("{a_row} {}", tid("sync-now"))).await?;
    ui.text_with(&format!("{a_row} {}", tid("sync-state")), "Last sync: success", SYNC_WAIT).await?;

    // B polls: the first sync meets A's ITAR tag, which no rule covers yet.
    ui.goto(&format!("{page_b}?tab=receiving#token={admin_b}")).await?;
    ui.click(&format!("{b_row} {}", tid("sync-now"))).await?;
    ui.text_with(&format!("{b_row} {}", tid("sync-state")), "Last sync: failure", SYNC_WAIT).await?;

    // The Transform Config dialog now offers the partner's tag and warns about it.
    ui.click(&format!("{b_row} {}", tid("transform-count"))).await?;
    ui.wait(&tid("transform-dialog")).await?;
    ui.text_with(&tid("tf-order-note"), "removes, then maps, then adds", WAIT).await?;
    ui.text_with(&tid("tf-uncovered"), "ITAR", WAIT).await?;
    ui.choose(&tid("tf-kind"), "map").await?;
    ui.choose(&tid("tf-predicate"), "ITAR").await?;
    ui.choose(&tid("tf-value"), "B-ITAR").await?;
    ui.click(&tid("tf-add")).await?; // no description yet: refused
    ui.text_with(&tid("tf-add-error"), "description", WAIT).await?;
    ui.fill(&tid("tf-description"), "the partner's ITAR is our B-ITAR").await?;
    ui.click(&tid("tf-add")).await?;
    ui.gone(&tid("tf-uncovered")).await?;
    ui.choose(&tid("tf-kind"), "add").await?;
    ui.choose(&tid("tf-value"), "FROM-PARTNER-A").await?;
    ui.fill(&tid("tf-description"), "mark where the file came from").await?;
    ui.click(&tid("tf-add")).await?;
    let rules = ui.c.find_all(Locator::Css(&tid("tf-rule"))).await?;
    check_eq!(rules.len(), 2, "two rules listed before saving");
    ui.click(&tid("tf-save")).await?;
    ui.gone(&tid("transform-dialog")).await?;
    ui.text_with(&format!("{b_row} {}", tid("transform-count")), "2", WAIT).await?;

    // The next sync brings the file in.
    ui.click(&format!("{b_row} {}", tid("sync-now"))).await?;
    ui.text_with(&format!("{b_row} {}", tid("sync-state")), "Last sync: success, 1 file updated", SYNC_WAIT).await?;
    ui.wait(&format!("{b_row} [data-testid=\"status-link\"][data-health=\"success\"]")).await?;

    // The Sync Status page: newest first, the file's row, the failure's full message.
    ui.click(&format!("{b_row} {}", tid("status-link"))).await?;
    ui.wait(&tid("sync-events")).await?;
    let events = ui.c.find_all(Locator::Css(&tid("sync-event"))).await?;
    check_eq!(events.len(), 2, "two syncs of the new connection");
    check_eq!(events[0].attr("data-status").await?.as_deref(), Some("success"), "newest first");
    check_eq!(events[0].attr("data-updated").await?.as_deref(), Some("1"));
    check_eq!(events[1].attr("data-status").await?.as_deref(), Some("failure"));
    ui.click(&format!("tr[data-testid=\"sync-event\"][data-status=\"success\"] {}", tid("sync-expand"))).await?;
    let resource = ui.wait("[data-testid=\"sync-resource\"][data-name=\"spar.step\"]").await?;
    check_eq!(resource.attr("data-outcome").await?.as_deref(), Some("updated"));
    ui.screenshot(&dir.join("sync-status.png")).await?;
    let failure_message = format!("tr[data-testid=\"sync-event\"][data-status=\"failure\"] {}", tid("sync-message"));
    ui.click(&failure_message).await?;
    let full = ui.text_with(&tid("message-full"), "uncovered", WAIT).await?;
    ensure!(full.contains("ITAR"), "the full message names the tag: {full}");
    ui.click(&tid("message-close")).await?;
    ui.gone(&tid("message-dialog")).await?;
    ui.click(&tid("sync-filter-updates")).await?;
    let deadline = Instant::now() + WAIT;
    loop {
        let shown = ui.c.find_all(Locator::Css(&tid("sync-event"))).await?;
        if shown.len() == 1 {
            check_eq!(shown[0].attr("data-status").await?.as_deref(), Some("success"));
            break;
        }
        if Instant::now() >= deadline {
            bail!("'With updates' still shows {} events", shown.len());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // A long sync: its first rows, then the rest a page at a time; and one running, with
    // its progress. Both written as the recorder and the validator would.
    let url = ui.c.current_url().await?;
    let connection_id = url.path().trim_end_matches("/sync-status").rsplit('/').next().unwrap_or_default().to_owned();
    long_and_running_syncs(pair, &connection_id).await?;
    ui.click(&tid("sync-filter-all")).await?;
    let progress = ui.wait(&tid("sync-progress")).await?;
    check_eq!(progress.attr("data-done").await?.as_deref(), Some("40"), "files done of the running sync");
    check_eq!(progress.attr("data-total").await?.as_deref(), Some("300"));
    let text = ui.text(&tid("sync-progress")).await?;
    ensure!(text.contains("40 of 300 files") && text.contains("files/s"), "the progress line: {text}");
    ui.screenshot(&dir.join("sync-progress.png")).await?;
    ui.click(&format!("tr[data-testid=\"sync-event\"][data-updated=\"120\"] {}", tid("sync-expand"))).await?;
    ui.text_with(&tid("rows-shown"), "50 of 120 rows", WAIT).await?;
    ui.click(&tid("rows-more")).await?;
    ui.text_with(&tid("rows-shown"), "120 of 120 rows", WAIT).await?;
    let rows = ui.c.find_all(Locator::Css("[data-testid=\"sync-resource\"][data-name^=\"bulk-\"]")).await?;
    check_eq!(rows.len(), 120, "every row of the long sync, each once");

    // Back on B's list. Owners: Bob created the connection, so he is its first owner; add Carol.
    ui.click(&tid("back-to-connections")).await?;
    let receiving_id = ui.act(&b_row, "reading the id of", |el| async move { el.attr("data-id").await }).await?;
    let receiving_id = receiving_id.ok_or_else(|| anyhow!("the row carries its connection id"))?;
    ui.click(&format!("{b_row} {}", tid("row-actions"))).await?;
    ui.click(&format!("{b_row} {}", tid("action-owners"))).await?;
    ui.text_with(&tid("owners-list"), "Bob", WAIT).await?;
    ui.fill(&tid("owner-search"), "carol").await?;
    ui.click(&format!("{}[data-id=\"{CAROL}\"]", tid("owner-add"))).await?;
    ui.text_with(&tid("owners-list"), "Carol", WAIT).await?;
    ui.click(&tid("owners-save")).await?;
    ui.gone(&tid("owners-dialog")).await?;
    let mut owners = pair.b.ctx.repo.owners(&receiving_id).await?;
    owners.sort();
    check_eq!(owners, vec![BOB.to_string(), CAROL.to_string()]);

    // Edit: the shared ID is shown read-only; the description changes.
    ui.click(&format!("{b_row} {}", tid("row-actions"))).await?;
    ui.click(&format!("{b_row} {}", tid("action-edit"))).await?;
    let shown_id = ui.act(&tid("edit-shared-id"), "reading", |el| async move { el.prop("value").await }).await?;
    check_eq!(shown_id.as_deref(), Some(shared_id.as_str()));
    ui.fill(&tid("edit-description"), "wing programme CAD from partner A").await?;
    ui.click(&tid("edit-save")).await?;
    ui.gone(&tid("edit-dialog")).await?;
    ui.text_with(&format!("{b_row} {}", tid("cell-description")), "wing programme", WAIT).await?;

    // Sorting by name, descending.
    ui.click(&tid("sort-name")).await?;
    let expected = vec![pair.receiving.name.clone(), "Design exchange from A".to_string()];
    let deadline = Instant::now() + WAIT;
    loop {
        let mut names = Vec::new();
        for el in ui.c.find_all(Locator::Css(&tid("connection-row"))).await? {
            names.push(el.attr("data-name").await.ok().flatten().unwrap_or_default());
        }
        if names == expected {
            break;
        }
        if Instant::now() >= deadline {
            bail!("rows not sorted by name descending: {names:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Archive the older connection: gone from Active, dimmed and locked under All.
    let old_row = row(&pair.receiving.name);
    ui.click(&format!("{old_row} {}", tid("row-actions"))).await?;
    ui.click(&format!("{old_row} {}", tid("action-archive"))).await?;
    ui.text_with(&tid("archive-dialog"), "cannot be undone", WAIT).await?;
    ui.click(&tid("archive-confirm")).await?;
    ui.gone(&tid("archive-dialog")).await?;
    ui.gone(&old_row).await?;
    ui.click(&tid("filter-all")).await?;
    let menu = ui.wait(&format!("{old_row}[data-archived=\"true\"] {}", tid("row-actions"))).await?;
    ensure!(!menu.is_enabled().await?, "an archived row's actions are disabled");
    ui.screenshot(&dir.join("connections.png")).await?;

    // And the file really is at B, for Bob (owner, cleared for B-ITAR).
    let at_b = pair.files_at_b(BOB).await?;
    let names: Vec<&str> = at_b.iter().map(|(r, _)| r.name.as_str()).collect();
    ensure!(names.contains(&"spar.step"), "Bob sees the file at B: {names:?}");

    // A resets its sending secret: generated by default, shown once with a copy button.
    ui.goto(&format!("{page_a}#token={admin_a}")).await?;
    let a_row = row("Design exchange with B");
    ui.click(&format!("{a_row} {}", tid("row-actions"))).await?;
    ui.click(&format!("{a_row} {}", tid("action-edit"))).await?;
    ui.click(&tid("edit-secret-toggle")).await?;
    ensure!(ui.wait(&tid("edit-secret-generate")).await?.is_selected().await?, "a generated secret is the default");
    ui.click(&tid("edit-save")).await?;
    ui.text_with(&tid("credentials-dialog"), "now uses a new secret", WAIT).await?;
    ui.wait(&tid("cred-copy-secret")).await?;
    ui.click(&tid("cred-reveal")).await?;
    let reset = ui.text(&tid("cred-secret")).await?;
    ensure!(reset != secret && reset.split('-').count() == 6, "a generated secret replaced the typed one: {reset}");
    ui.screenshot(&dir.join("secret-reset.png")).await?;
    ui.click(&tid("cred-done")).await?;
    ui.gone(&tid("credentials-dialog")).await?;
    Ok(())
}

/// A finished receiving sync of 120 files and a running one, 40 of 300 files in.
async fn long_and_running_syncs(pair: &Pair, connection_id: &str) -> Result<()> {
    use airlock_domain::pipeline::{ResourceOutcome, ResourceRow, StatusEvent, StatusReport};
    use airlock_domain::{new_id, now_millis, ConnectionKind};
    let repo = &pair.b.ctx.repo;
    let report = |sync_id: &str, at, event| StatusReport {
        sync_id: sync_id.to_owned(),
        connection_id: connection_id.to_owned(),
        kind: ConnectionKind::Receiving,
        at,
        event,
    };
    let row = |i: usize| ResourceRow {
        resource_id: format!("bulk-{i:03}"),
        name: format!("bulk-{i:03}.step"),
        outcome: ResourceOutcome::Updated,
        message: "stored".into(),
    };
    let (long, running, now) = (new_id(), new_id(), now_millis());
    let end = StatusEvent::StageFinished {
        failed: false,
        message: "120 files".into(),
        pending: 0,
        resources: (0..120).map(row).collect(),
    };
    repo.record_status(&report(&long, now - 5_000, end), now).await?;
    let started = StatusEvent::StageFinished {
        failed: false,
        message: "300 change(s) to apply".into(),
        pending: 300,
        resources: Vec::new(),
    };
    repo.record_status(&report(&running, now - 4_000, started), now).await?;
    repo.start_receive_progress(&running, 300, 300 << 20, now - 4_000).await?;
    repo.add_received_bytes(&running, 40 << 20).await?;
    let live =
        |i: usize| ResourceRow { resource_id: format!("live-{i:03}"), name: format!("live-{i:03}.step"), ..row(i) };
    let done = StatusEvent::Rows { rows: (0..40).map(live).collect() };
    repo.record_status(&report(&running, now - 1_000, done), now).await?;
    Ok(())
}
