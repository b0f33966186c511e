// The Users tab of the Platform page: search with paging, and each user's clearance (level
// and control tags) and Secure Connections flag.
import { api, describeError } from './api.js';
import { append, busy, button, checkbox, clear, field, fmtTime, h, notify, openDialog, pager, select } from './dom.js';

const PAGE_SIZE = 20;

export function usersTab(platform) {
  const search = h('input', { type: 'search', testid: 'users-search', placeholder: 'Name, user id or email', autocomplete: 'off', 'aria-label': 'Search users' });
  const list = h('div', { class: 'table-wrap', testid: 'users' }, h('p', { class: 'muted' }, 'Loading users…'));
  let offset = 0;
  let seq = 0;
  async function load() {
    const mine = ++seq;
    const params = new URLSearchParams({ search: search.value.trim(), limit: String(PAGE_SIZE), offset: String(offset) });
    try {
      const page = await api('GET', `/api/v1/platform/users?${params}`);
      if (mine !== seq) return;
      clear(list).append(usersTable(platform, page, load), pager('users', offset, page.users.length, page.total, PAGE_SIZE, (next) => { offset = next; load(); }));
    } catch (err) {
      if (mine === seq) clear(list).append(h('div', { class: 'callout error', testid: 'users-error', role: 'alert' }, describeError(err)));
    }
  }
  let timer = null;
  search.addEventListener('input', () => {
    clearTimeout(timer);
    timer = setTimeout(() => { offset = 0; load(); }, 250);
  });
  load();
  return h('section', { testid: 'users-card' },
    h('p', { class: 'muted' }, 'Everyone who has signed in. A user is created on first sign-in with the lowest level, no tags and Secure Connections off.'),
    h('div', { class: 'toolbar' }, search),
    list);
}

function clearanceCell(user) {
  const c = user.clearance || { level: null, tags: [] };
  return h('td', { testid: 'user-clearance' },
    h('span', { testid: 'user-level' }, c.level ? c.level.name : '—'),
    (c.tags || []).length ? h('span', { class: 'tags beside' }, c.tags.map((t) => h('span', { class: 'tag' }, t))) : null);
}

function usersTable(platform, page, reload) {
  if (!page.users.length) return h('div', { class: 'empty', testid: 'users-empty' }, h('p', {}, 'No user matches.'));
  const rows = page.users.map((u) => h('tr', { testid: 'user-row', dataset: { id: u.id, flag: String(!!u.secure_connections) } },
    h('td', {}, h('strong', {}, u.name), h('div', { class: 'muted mono small' }, u.id)),
    h('td', {}, u.email || h('span', { class: 'muted' }, '—')),
    clearanceCell(u),
    h('td', { testid: 'user-flag' }, u.secure_connections ? h('span', { class: 'badge health-success' }, 'On') : h('span', { class: 'badge' }, 'Off')),
    h('td', {}, fmtTime(u.last_seen_at)),
    h('td', { class: 'actions-cell' }, button('Edit…', {
      class: 'btn small', testid: 'user-edit', 'aria-label': `Edit ${u.name}`, onclick: () => userDialog(platform, u, reload),
    }))));
  return h('table', { class: 'grid', testid: 'users-table' },
    h('thead', {}, h('tr', {}, ['User', 'Email', 'Clearance', 'Secure Connections', 'Last seen'].map((t) => h('th', { scope: 'col' }, t)),
      h('th', { scope: 'col' }, h('span', { class: 'visually-hidden' }, 'Actions')))),
    h('tbody', {}, rows));
}

function userDialog(platform, user, reload) {
  const dlg = openDialog({ title: `Clearance of ${user.name}`, testid: 'user-dialog' });
  const held = user.clearance || { level: null, tags: [] };
  const level = select(platform.levels.map((l) => ({ value: l.name, label: `${l.name} (${l.order})` })), { testid: 'user-level-choice' });
  level.value = held.level ? held.level.name : '';
  const active = platform.control_tags || [];
  // A tag the user holds that has since been deactivated stays listed, so saving does not drop it silently.
  const names = active.concat((held.tags || []).filter((t) => !active.includes(t)));
  const picker = h('fieldset', { class: 'tag-picker', testid: 'user-tags' }, h('legend', {}, 'Control tags'));
  if (!names.length) picker.append(h('p', { class: 'muted' }, 'This platform has no active control tags.'));
  const boxes = names.map((t) => {
    const cb = checkbox(active.includes(t) ? t : `${t} (inactive)`, { value: t, checked: (held.tags || []).includes(t), testid: `user-tag-${t}` });
    picker.append(cb.el);
    return cb.input;
  });
  const flag = checkbox('Secure Connections (administrators need it for the admin pages)', { testid: 'user-flag-choice', checked: !!user.secure_connections });
  const error = h('div', { class: 'callout error', testid: 'user-error', hidden: true, role: 'alert' });
  append(dlg.body, [
    h('p', { class: 'muted' }, `${user.id}${user.email ? ` · ${user.email}` : ''}`),
    field('Infosec level', level, { hint: 'The highest level of file this user may see.' }),
    picker,
    h('fieldset', { class: 'flags' }, h('legend', {}, 'Experimental features'), flag.el),
    error,
  ]);
  const save = button('Save', { class: 'btn primary', testid: 'user-save' });
  dlg.footer.append(button('Cancel', { testid: 'dlg-cancel', onclick: dlg.close }), save);
  save.addEventListener('click', async () => {
    const tags = boxes.filter((b) => b.checked).map((b) => b.value);
    const patch = {};
    const before = (held.tags || []).slice().sort().join('\n');
    if (!level.value) {
      error.hidden = false;
      error.textContent = 'Choose the user’s level.';
      return;
    }
    if (!held.level || level.value !== held.level.name || tags.slice().sort().join('\n') !== before) patch.clearance = { level: level.value, tags };
    if (flag.input.checked !== !!user.secure_connections) patch.secure_connections = flag.input.checked;
    if (!Object.keys(patch).length) {
      dlg.close();
      return;
    }
    busy(save, true, 'Saving…');
    try {
      await api('PATCH', `/api/v1/platform/users/${encodeURIComponent(user.id)}`, patch);
      dlg.close();
      notify(`Saved ${user.name}.`, 'success');
      reload();
    } catch (err) {
      busy(save, false);
      error.hidden = false;
      error.textContent = describeError(err);
    }
  });
}
