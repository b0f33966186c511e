// The Files page: upload, the list of files one can see, and the Share dialog.
import { api, describeError, errorBox, loadPlatform, tokenClaims } from './api.js';
import { actionMenu, append, busy, button, checkbox, clear, field, fmtSize, fmtTime, h, notify, openDialog, select } from './dom.js';
import { classifyDialog, revisionDialog, revisionsDialog, sharesDialog } from './file-dialogs.js';
import { stale, startPage } from './router.js';
import { pageError } from './session.js';

export async function filesPage() {
  const { main, gen } = startPage('Files');
  const listBox = h('div', { class: 'table-wrap', testid: 'files' }, h('p', { class: 'muted' }, 'Loading files…'));
  const uploadBox = h('section', { class: 'card', testid: 'upload' }, h('p', { class: 'muted' }, 'Loading…'));
  append(main, [
    h('div', { class: 'page-head' }, h('div', {}, h('h1', {}, 'Files'),
      h('p', { class: 'lead' }, 'Upload files to this registry and share them with partner organizations through a sending connection.'))),
    uploadBox,
    h('h2', {}, 'Files you can see'),
    listBox,
  ]);

  let files;
  let platform;
  try {
    [files, platform] = await Promise.all([api('GET', '/api/v1/files'), loadPlatform().catch(() => null)]);
  } catch (err) {
    if (stale(gen)) return;
    clear(main);
    pageError(main, err);
    return;
  }
  if (stale(gen)) return;
  clear(uploadBox).append(uploadForm(platform));
  clear(listBox).append(filesTable(files, platform));
}

async function refreshList(platform) {
  const listBox = document.querySelector('[data-testid="files"]');
  const files = await api('GET', '/api/v1/files');
  if (listBox) clear(listBox).append(filesTable(files, platform));
}

function uploadForm(platform) {
  const fileInput = h('input', { type: 'file', testid: 'upload-file' });
  const status = h('div', { class: 'upload-status', testid: 'upload-status', role: 'status', 'aria-live': 'polite' });
  let levelControl;
  let tagsValue;
  const parts = [];
  if (platform && platform.levels) {
    levelControl = select(platform.levels.map((l) => ({ value: l.name, label: `${l.name} (${l.order})` })), { testid: 'upload-level' });
    const picker = h('fieldset', { class: 'tag-picker', testid: 'upload-tags' }, h('legend', {}, 'Control tags'));
    const boxes = (platform.control_tags || []).map((t) => {
      const cb = checkbox(t, { value: t, testid: `upload-tag-${t}` });
      picker.append(cb.el);
      return cb.input;
    });
    tagsValue = () => boxes.filter((b) => b.checked).map((b) => b.value);
    parts.push(field('Infosec level', levelControl), picker);
  } else {
    levelControl = h('input', { type: 'text', testid: 'upload-level-text', placeholder: 'e.g. INTERNAL', autocomplete: 'off' });
    const tagsInput = h('input', { type: 'text', testid: 'upload-tags-text', placeholder: 'e.g. ITAR, PROJECT-X', autocomplete: 'off' });
    tagsValue = () => tagsInput.value.split(/[\s,]+/).map((t) => t.trim()).filter(Boolean);
    parts.push(
      h('p', { class: 'hint', testid: 'upload-fallback-note' }, 'The list of levels and tags is only available to administrators; type them instead.'),
      field('Infosec level', levelControl),
      field('Control tags (comma-separated)', tagsInput));
  }
  const submit = h('button', { type: 'submit', class: 'btn primary', testid: 'upload-submit' }, 'Upload');
  const form = h('form', { class: 'form upload-form', testid: 'upload-form', novalidate: true },
    h('h2', {}, 'Upload a file'),
    field('File', fileInput),
    parts,
    h('div', { class: 'actions' }, submit),
    status);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    status.className = 'upload-status';
    const file = fileInput.files && fileInput.files[0];
    const level = levelControl.value.trim();
    if (!file) {
      status.textContent = 'Choose a file first.';
      status.classList.add('error');
      return;
    }
    if (!level) {
      status.textContent = 'Enter the file’s infosec level.';
      status.classList.add('error');
      return;
    }
    const params = new URLSearchParams({ name: file.name, level });
    const tags = tagsValue();
    if (tags.length) params.set('tags', tags.join(','));
    busy(submit, true, 'Uploading…');
    try {
      const created = await api('POST', `/api/v1/files?${params}`, file);
      status.textContent = `Uploaded ${created.name}.`;
      status.classList.add('ok');
      status.dataset.state = 'done';
      fileInput.value = '';
      await refreshList(platform);
    } catch (err) {
      status.textContent = describeError(err);
      status.classList.add('error');
      status.dataset.state = 'error';
    } finally {
      busy(submit, false);
    }
  });
  return form;
}

function fileActions(f, platform) {
  const claims = tokenClaims();
  const mine = !!claims && claims.sub === f.owner_id;
  const changed = () => refreshList(platform).catch((err) => notify(describeError(err), 'error'));
  const items = [];
  if (mine) {
    items.push(
      { label: 'Upload new revision…', testid: 'file-action-revision', run: () => revisionDialog(f, changed) },
      { label: 'Change level and tags…', testid: 'file-action-classify', run: () => classifyDialog(f, platform, changed) },
      { label: 'Shares…', testid: 'file-action-shares', run: () => sharesDialog(f) });
  }
  items.push({ label: 'Revisions…', testid: 'file-action-revisions', run: () => revisionsDialog(f) });
  return actionMenu(items, { label: `Actions for ${f.name}`, testid: 'file-actions' });
}

function filesTable(files, platform) {
  if (!files.length) return h('div', { class: 'empty', testid: 'files-empty' }, h('p', {}, 'No files yet.'));
  const sorted = files.slice().sort((a, b) => b.created_at - a.created_at);
  const rows = sorted.map((f) => {
    const received = !!f.origin_connection_id;
    return h('tr', { testid: 'file-row', dataset: { id: f.id, name: f.name } },
      h('td', { testid: 'file-name' }, f.name),
      h('td', { testid: 'file-level' }, f.level ? f.level.name : '—'),
      h('td', { testid: 'file-tags' }, (f.tags || []).length ? h('span', { class: 'tags' }, f.tags.map((t) => h('span', { class: 'tag' }, t))) : h('span', { class: 'muted' }, 'None')),
      h('td', { class: 'num' }, fmtSize(f.size)),
      h('td', {}, fmtTime(f.created_at)),
      h('td', {}, received ? 'Received from a partner' : 'Uploaded here'),
      h('td', { class: 'actions-cell' }, h('div', { class: 'row-actions' }, button('Share…', {
        class: 'btn small', testid: 'file-share', disabled: received,
        title: received ? 'Received files cannot be shared with another secure connection.' : 'Share with a partner organization',
        onclick: () => shareDialog(f),
      }), fileActions(f, platform))));
  });
  return h('table', { class: 'grid', testid: 'files-table' },
    h('thead', {}, h('tr', {},
      ['Name', 'Level', 'Control tags', 'Size', 'Added', 'Source'].map((t) => h('th', { scope: 'col' }, t)),
      h('th', { scope: 'col' }, h('span', { class: 'visually-hidden' }, 'Actions')))),
    h('tbody', {}, rows));
}

async function shareDialog(file) {
  const dlg = openDialog({ title: `Share ${file.name}`, testid: 'share-dialog' });
  let targets;
  try {
    targets = await api('GET', '/api/v1/sharing-targets');
  } catch (err) {
    dlg.body.append(errorBox(err, 'share-error'));
    dlg.footer.append(button('Close', { onclick: dlg.close }));
    return;
  }
  const error = h('div', { class: 'callout error', testid: 'share-error', hidden: true, role: 'alert' });
  if (!targets.length) {
    dlg.body.append(h('p', { testid: 'share-none' }, 'There is no active sending connection to share with. An administrator has to create one first.'));
    dlg.footer.append(button('Close', { onclick: dlg.close }));
    return;
  }
  const target = select([{ value: '', label: 'Choose a connection…', disabled: true }].concat(targets.map((t) => ({ value: t.id, label: t.name }))), { testid: 'share-target' });
  target.value = '';
  const certify = checkbox('I certify that this file may leave our organization and be shared with the partner behind this connection, and that its classification and control tags are correct.', { testid: 'share-certify' });
  append(dlg.body, [
    h('p', {}, 'The file is sent to the partner at the next sync of the connection, as long as its infosec level and control tags are permitted there. A file that stops being permitted is withdrawn automatically.'),
    field('Sending connection', target),
    h('div', { class: 'certify' }, certify.el),
    error,
  ]);
  const submit = button('Share', { class: 'btn primary', testid: 'share-submit' });
  dlg.footer.append(button('Cancel', { testid: 'dlg-cancel', onclick: dlg.close }), submit);
  submit.addEventListener('click', async () => {
    const fail = (text) => {
      error.hidden = false;
      error.textContent = text;
    };
    if (!target.value) return fail('Choose the connection to share with.');
    if (!certify.input.checked) return fail('Tick the certification before sharing.');
    busy(submit, true, 'Sharing…');
    try {
      await api('POST', `/api/v1/files/${encodeURIComponent(file.id)}/shares`, { connection_id: target.value, certified: true });
      dlg.close();
      const name = targets.find((t) => t.id === target.value);
      notify(`${file.name} is shared with “${name ? name.name : target.value}”.`, 'success');
    } catch (err) {
      busy(submit, false);
      fail(`Sharing was refused: ${describeError(err)}`);
    }
    return undefined;
  });
}
