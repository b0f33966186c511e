// The Files page's per-file dialogs: a new revision, level and tags, the file's shares
// (unshare) and its revisions. The server decides; its refusals are shown as they come.
import { api, describeError, errorBox } from './api.js';
import { append, busy, button, checkbox, clear, copyButton, field, fmtSize, fmtTime, h, notify, openDialog, select } from './dom.js';

const TAG_PATTERN = /^[^\s,]+$/;

function dialogError(testid) {
  return h('div', { class: 'callout error', testid, hidden: true, role: 'alert' });
}

function fail(el, text) {
  el.hidden = !text;
  el.textContent = text || '';
}

export function revisionDialog(file, changed) {
  const dlg = openDialog({ title: `New revision of ${file.name}`, testid: 'revision-dialog' });
  const input = h('input', { type: 'file', testid: 'revision-file' });
  const error = dialogError('revision-error');
  append(dlg.body, [
    h('p', {}, 'The new content replaces what users and partners see; the earlier revisions stay listed. A shared file is sent again at the next sync of its connections.'),
    field('File', input, { hint: `It keeps the name ${file.name}, its level and its control tags.` }),
    error,
  ]);
  const submit = button('Upload revision', { class: 'btn primary', testid: 'revision-submit' });
  dlg.footer.append(button('Cancel', { testid: 'dlg-cancel', onclick: dlg.close }), submit);
  submit.addEventListener('click', async () => {
    const chosen = input.files && input.files[0];
    if (!chosen) return fail(error, 'Choose the file with the new content first.');
    fail(error, '');
    busy(submit, true, 'Uploading…');
    try {
      await api('POST', `/api/v1/files/${encodeURIComponent(file.id)}/revisions`, chosen);
      dlg.close();
      notify(`New revision of ${file.name} uploaded.`, 'success');
      changed();
    } catch (err) {
      busy(submit, false);
      fail(error, describeError(err));
    }
    return undefined;
  });
}

export function classifyDialog(file, platform, changed) {
  const dlg = openDialog({ title: `Level and tags of ${file.name}`, testid: 'classify-dialog' });
  const error = dialogError('classify-error');
  let levelValue;
  let tagsValue;
  const parts = [];
  if (platform && platform.levels) {
    const level = select(platform.levels.map((l) => ({ value: l.name, label: `${l.name} (${l.order})` })), { testid: 'classify-level' });
    level.value = file.level ? file.level.name : '';
    const picker = h('fieldset', { class: 'tag-picker', testid: 'classify-tags' }, h('legend', {}, 'Control tags'));
    const active = platform.control_tags || [];
    const names = active.concat((file.tags || []).filter((t) => !active.includes(t)));
    const boxes = names.map((t) => {
      const cb = checkbox(active.includes(t) ? t : `${t} (inactive)`, { value: t, checked: (file.tags || []).includes(t), testid: `classify-tag-${t}` });
      picker.append(cb.el);
      return cb.input;
    });
    if (!names.length) picker.append(h('p', { class: 'muted' }, 'This platform has no active control tags.'));
    levelValue = () => level.value;
    tagsValue = () => boxes.filter((b) => b.checked).map((b) => b.value);
    parts.push(field('Infosec level', level), picker);
  } else {
    const level = h('input', { type: 'text', testid: 'classify-level-text', value: file.level ? file.level.name : '', autocomplete: 'off' });
    const tags = h('input', { type: 'text', testid: 'classify-tags-text', value: (file.tags || []).join(', '), autocomplete: 'off' });
    levelValue = () => level.value.trim();
    tagsValue = () => tags.value.split(/[\s,]+/).map((t) => t.trim()).filter(Boolean);
    parts.push(field('Infosec level', level), field('Control tags (comma-separated)', tags));
  }
  append(dlg.body, [
    h('p', { class: 'muted' }, 'Within your own clearance, and only active control tags. If the file stops being permitted on a connection it is shared with, it is withdrawn at the next sync.'),
    parts,
    error,
  ]);
  const save = button('Save', { class: 'btn primary', testid: 'classify-save' });
  dlg.footer.append(button('Cancel', { testid: 'dlg-cancel', onclick: dlg.close }), save);
  save.addEventListener('click', async () => {
    const level = levelValue();
    const tags = tagsValue();
    if (!level) return fail(error, 'Enter the file’s infosec level.');
    const bad = tags.find((t) => !TAG_PATTERN.test(t));
    if (bad) return fail(error, `${bad} is not a control tag name.`);
    const patch = {};
    if (!file.level || level !== file.level.name) patch.level = level;
    if (tags.slice().sort().join('\n') !== (file.tags || []).slice().sort().join('\n')) patch.tags = tags;
    if (!Object.keys(patch).length) {
      dlg.close();
      return undefined;
    }
    fail(error, '');
    busy(save, true, 'Saving…');
    try {
      await api('PATCH', `/api/v1/files/${encodeURIComponent(file.id)}`, patch);
      dlg.close();
      notify(`${file.name} saved.`, 'success');
      changed();
    } catch (err) {
      busy(save, false);
      fail(error, describeError(err));
    }
    return undefined;
  });
}

export async function sharesDialog(file) {
  const dlg = openDialog({ title: `Shares of ${file.name}`, testid: 'shares-dialog' });
  dlg.footer.append(button('Close', { testid: 'dlg-cancel', onclick: dlg.close }));
  let shares;
  try {
    shares = await api('GET', `/api/v1/files/${encodeURIComponent(file.id)}/shares`);
  } catch (err) {
    dlg.body.append(errorBox(err, 'shares-error'));
    return;
  }
  const list = h('ul', { class: 'people', testid: 'shares-list' });
  const error = dialogError('shares-error');
  const render = () => {
    clear(list);
    if (!shares.length) list.append(h('li', { class: 'muted', testid: 'shares-empty' }, 'Not shared with any connection.'));
    for (const share of shares) {
      const unshare = button('Unshare', { class: 'btn small danger', testid: 'share-remove', 'aria-label': `Unshare from ${share.connection_name}` });
      unshare.addEventListener('click', async () => {
        busy(unshare, true, 'Unsharing…');
        fail(error, '');
        try {
          await api('DELETE', `/api/v1/files/${encodeURIComponent(file.id)}/shares/${encodeURIComponent(share.connection_id)}`);
          shares = shares.filter((s) => s.connection_id !== share.connection_id);
          notify(`${file.name} leaves “${share.connection_name}” at its next sync.`, 'success');
          render();
        } catch (err) {
          busy(unshare, false);
          fail(error, describeError(err));
        }
      });
      list.append(h('li', { testid: 'share', dataset: { connectionId: share.connection_id, connection: share.connection_name } },
        h('span', {}, h('strong', {}, share.connection_name), h('br'),
          h('span', { class: 'muted small' }, `shared by ${share.shared_by}, ${fmtTime(share.shared_at)}`)),
        unshare));
    }
  };
  render();
  append(dlg.body, [
    h('p', { class: 'muted' }, 'An unshared file is listed as removed in the connection’s next manifest, so the partner withdraws it too.'),
    list,
    error,
  ]);
}

export async function revisionsDialog(file) {
  const dlg = openDialog({ title: `Revisions of ${file.name}`, testid: 'revisions-dialog', wide: true });
  dlg.footer.append(button('Close', { testid: 'dlg-cancel', onclick: dlg.close }));
  let revisions;
  try {
    revisions = await api('GET', `/api/v1/files/${encodeURIComponent(file.id)}/revisions`);
  } catch (err) {
    dlg.body.append(errorBox(err, 'revisions-error'));
    return;
  }
  if (!revisions.length) {
    dlg.body.append(h('p', { class: 'muted', testid: 'revisions-empty' }, 'No revisions recorded.'));
    return;
  }
  const rows = revisions.map((r, i) => h('tr', { testid: 'revision-row', dataset: { id: r.id, sha256: r.sha256 } },
    h('td', {}, fmtTime(r.created_at), i === 0 ? h('span', { class: 'badge health-success beside' }, 'Current') : null),
    h('td', { class: 'num' }, fmtSize(r.size)),
    h('td', {}, h('code', { class: 'digest', title: r.sha256 }, `${r.sha256.slice(0, 16)}…`), ' ', copyButton(() => r.sha256, 'Copy', 'revision-copy'))));
  dlg.body.append(h('div', { class: 'table-wrap' }, h('table', { class: 'grid', testid: 'revisions-table' },
    h('thead', {}, h('tr', {}, ['Uploaded', 'Size', 'SHA-256'].map((t) => h('th', { scope: 'col' }, t)))),
    h('tbody', {}, rows))));
}
