// The Platform page: infosec levels and the max level, control tags, users and the audit
// list. Every change goes to the server, which may refuse it; its message is shown as is.
import { api, describeError } from './api.js';
import { auditTab } from './audit.js';
import { append, busy, button, checkbox, clear, field, fieldError, h, notify, openDialog, select, setFieldError } from './dom.js';
import { usersTab } from './platform-users.js';
import { stale, startPage } from './router.js';
import { pageError } from './session.js';
import { state } from './state.js';

const TABS = {
  classification: 'Classification',
  tags: 'Control Tags',
  users: 'Users',
  audit: 'Audit Log',
};

/** Tags travel in comma- or space-separated lists (the upload form, the address): neither is allowed. */
const TAG_PATTERN = /^[^\s,]+$/;
const MAX_NAME_LEN = 64;

function checkName(value, what, taken) {
  if (!value) return `Enter the ${what} name.`;
  if (value.length > MAX_NAME_LEN) return `The ${what} name is longer than ${MAX_NAME_LEN} characters.`;
  if (what === 'tag' && !TAG_PATTERN.test(value)) return 'A tag name cannot contain spaces or commas.';
  if (taken.includes(value)) return `There is already a ${what} called ${value}.`;
  return '';
}

function currentTab() {
  const tab = new URLSearchParams(location.search).get('tab');
  return TABS[tab] ? tab : 'classification';
}

function setTab(tab) {
  history.replaceState(null, '', `/admin/platform${tab === 'classification' ? '' : `?tab=${tab}`}`);
}

export async function platformPage() {
  const { main, gen } = startPage('Platform');
  const tab = currentTab();
  const body = h('div', { role: 'tabpanel', testid: `platform-${tab}`, 'aria-label': TABS[tab] }, h('p', { class: 'muted' }, 'Loading…'));
  append(main, [
    h('div', { class: 'page-head' }, h('div', {},
      h('h1', {}, 'Platform'),
      h('p', { class: 'lead' }, 'Classification levels, control tags and users of this platform, and the record of every change.'))),
    h('div', { class: 'tabbar' }, h('div', { role: 'tablist', 'aria-label': 'Platform settings' },
      Object.entries(TABS).map(([key, label]) => h('button', {
        type: 'button', role: 'tab', class: 'tab', testid: `ptab-${key}`, 'aria-selected': String(tab === key),
        onclick: () => { setTab(key); platformPage(); },
      }, label)))),
    body,
  ]);
  let platform;
  try {
    platform = await api('GET', '/api/v1/platform');
  } catch (err) {
    if (stale(gen)) return;
    clear(main);
    pageError(main, err);
    return;
  }
  if (stale(gen)) return;
  state.platform = platform;
  const redraw = (next) => {
    state.platform = next;
    if (!stale(gen)) fill(body, tab, next, redraw);
  };
  fill(body, tab, platform, redraw);
}

function fill(body, tab, platform, redraw) {
  clear(body);
  if (tab === 'classification') append(body, [infosecCard(platform, redraw), levelsCard(platform, redraw), maxLevelCard(platform, redraw)]);
  else if (tab === 'tags') body.append(tagsCard(platform, redraw));
  else if (tab === 'users') body.append(usersTab(platform));
  else body.append(auditTab());
}

function formError(testid) {
  return h('div', { class: 'callout error', testid, hidden: true, role: 'alert' });
}

function showError(el, text) {
  el.hidden = !text;
  el.textContent = text || '';
}

function infosecCard(platform, redraw) {
  const toggle = checkbox('Enforce infosec levels on files, users and connections', { testid: 'infosec-enabled', checked: platform.infosec_enabled });
  const error = formError('infosec-error');
  toggle.input.addEventListener('change', async () => {
    const wanted = toggle.input.checked;
    toggle.input.disabled = true;
    showError(error, '');
    try {
      const next = await api('PUT', '/api/v1/platform/infosec', { enabled: wanted });
      notify(`Infosec is now ${next.infosec_enabled ? 'on' : 'off'}.`, 'success');
      redraw(next);
    } catch (err) {
      toggle.input.checked = !wanted;
      toggle.input.disabled = false;
      showError(error, describeError(err));
    }
  });
  return h('section', { class: 'card', testid: 'infosec-card' },
    h('h2', {}, 'Infosec'),
    h('p', { class: 'muted' }, 'When infosec is off, levels are kept but not compared: every file may go to every user and connection its control tags allow.'),
    toggle.el, error);
}

function levelsCard(platform, redraw) {
  const names = platform.levels.map((l) => l.name);
  const orders = platform.levels.map((l) => l.order);
  const rows = platform.levels.map((level) => h('tr', { testid: 'level-row', dataset: { name: level.name, order: String(level.order) } },
    h('td', { class: 'num' }, String(level.order)),
    h('td', { testid: 'level-name' }, level.name,
      platform.max_level && platform.max_level.name === level.name ? h('span', { class: 'badge beside', title: 'The platform max level' }, 'Max') : null),
    h('td', { class: 'actions-cell' }, button('Edit…', {
      class: 'btn small', testid: 'level-edit', 'aria-label': `Edit level ${level.name}`,
      onclick: () => levelDialog(platform, level, redraw),
    }))));
  const name = h('input', { type: 'text', testid: 'level-new-name', autocomplete: 'off', spellcheck: 'false', placeholder: 'e.g. CONFIDENTIAL' });
  const order = h('input', { type: 'number', testid: 'level-new-order', step: '1', placeholder: 'e.g. 10' });
  const nameError = fieldError('err-level-name');
  const orderError = fieldError('err-level-order');
  const error = formError('level-error');
  const add = h('button', { type: 'submit', class: 'btn primary', testid: 'level-add' }, 'Add level');
  const form = h('form', { class: 'add-row', novalidate: true },
    field('Name', name, { error: nameError }),
    field('Order', order, { error: orderError, hint: 'Higher means more restricted.' }),
    h('div', { class: 'add-row-actions' }, add));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const n = name.value.trim();
    const nameProblem = checkName(n, 'level', names);
    const orderProblem = checkOrder(order.value, orders);
    setFieldError(nameError, nameProblem);
    setFieldError(orderError, orderProblem);
    showError(error, '');
    if (nameProblem || orderProblem) return;
    busy(add, true, 'Adding…');
    try {
      const next = await api('POST', '/api/v1/platform/levels', { name: n, order: Number(order.value) });
      notify(`Level ${n} added.`, 'success');
      redraw(next);
    } catch (err) {
      busy(add, false);
      showError(error, describeError(err));
    }
  });
  return h('section', { class: 'card', testid: 'levels-card' },
    h('h2', {}, 'Levels'),
    h('p', { class: 'muted' }, 'From the least to the most restricted. A user sees a file only when their level is at least the file’s.'),
    h('div', { class: 'table-wrap flat' }, h('table', { class: 'grid', testid: 'levels-table' },
      h('thead', {}, h('tr', {}, h('th', { scope: 'col', class: 'num' }, 'Order'), h('th', { scope: 'col' }, 'Name'),
        h('th', { scope: 'col' }, h('span', { class: 'visually-hidden' }, 'Actions')))),
      h('tbody', {}, rows))),
    h('h3', {}, 'Add a level'), form, error);
}

function checkOrder(raw, taken) {
  const text = String(raw).trim();
  if (!text) return 'Enter the order (a whole number).';
  if (!/^-?\d+$/.test(text) || !Number.isSafeInteger(Number(text))) return `${text} is not a whole number.`;
  if (taken.includes(Number(text))) return `Another level already has order ${text}.`;
  return '';
}

function levelDialog(platform, level, redraw) {
  const dlg = openDialog({ title: `Edit level ${level.name}`, testid: 'level-dialog' });
  const others = platform.levels.filter((l) => l.name !== level.name);
  const name = h('input', { type: 'text', testid: 'level-edit-name', value: level.name, autocomplete: 'off', spellcheck: 'false' });
  const order = h('input', { type: 'number', testid: 'level-edit-order', value: String(level.order), step: '1' });
  const nameError = fieldError('err-level-edit-name');
  const orderError = fieldError('err-level-edit-order');
  const error = formError('level-edit-error');
  const form = h('form', { class: 'form', novalidate: true, id: `level-form-${level.order}` },
    field('Name', name, { error: nameError, hint: 'A rename is applied everywhere the level is named: users, files, connections and rules.' }),
    field('Order', order, { error: orderError, hint: 'The server refuses a new order while any file, user, connection or received mapping depends on this level.' }),
    error);
  dlg.body.append(form);
  const save = h('button', { type: 'submit', class: 'btn primary', testid: 'level-save', form: form.id }, 'Save');
  dlg.footer.append(button('Cancel', { testid: 'dlg-cancel', onclick: dlg.close }), save);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const n = name.value.trim();
    const patch = {};
    const nameProblem = n === level.name ? '' : checkName(n, 'level', others.map((l) => l.name));
    const orderProblem = String(order.value).trim() === String(level.order) ? '' : checkOrder(order.value, others.map((l) => l.order));
    setFieldError(nameError, nameProblem);
    setFieldError(orderError, orderProblem);
    showError(error, '');
    if (nameProblem || orderProblem) return;
    if (n !== level.name) patch.name = n;
    if (Number(order.value) !== level.order) patch.order = Number(order.value);
    if (!Object.keys(patch).length) {
      dlg.close();
      return;
    }
    busy(save, true, 'Saving…');
    try {
      const next = await api('PATCH', `/api/v1/platform/levels/${encodeURIComponent(level.name)}`, patch);
      dlg.close();
      notify(`Level ${patch.name || level.name} saved.`, 'success');
      redraw(next);
    } catch (err) {
      busy(save, false);
      showError(error, describeError(err));
    }
  });
}

function maxLevelCard(platform, redraw) {
  const choice = select(platform.levels.map((l) => ({ value: l.name, label: `${l.name} (${l.order})` })), { testid: 'max-level' });
  choice.value = platform.max_level ? platform.max_level.name : '';
  const error = formError('max-level-error');
  const save = button('Save max level', { class: 'btn', testid: 'max-level-save' });
  save.addEventListener('click', async () => {
    showError(error, '');
    if (platform.max_level && choice.value === platform.max_level.name) {
      notify(`The max level already is ${choice.value}.`, 'info');
      return;
    }
    busy(save, true, 'Saving…');
    try {
      const next = await api('PUT', '/api/v1/platform/max-level', { name: choice.value });
      notify(`The platform max level is now ${next.max_level.name}.`, 'success');
      redraw(next);
    } catch (err) {
      busy(save, false);
      showError(error, describeError(err));
    }
  });
  return h('section', { class: 'card', testid: 'max-level-card' },
    h('h2', {}, 'Platform max level'),
    h('p', { class: 'muted' }, 'The highest level a file or user may hold here. Lowering it is refused while files or users above it exist.'),
    h('div', { class: 'inline bottom' }, h('div', { class: 'narrow' }, field('Max level', choice)), save),
    error);
}

function tagsCard(platform, redraw) {
  const all = platform.tags || (platform.control_tags || []).map((tag) => ({ tag, active: true }));
  const rows = all.map((t) => h('tr', { testid: 'tag-row', dataset: { tag: t.tag, active: String(t.active) }, class: t.active ? '' : 'inactive' },
    h('td', {}, h('span', { class: 'tag' }, t.tag)),
    h('td', { testid: 'tag-state' }, t.active ? h('span', { class: 'badge health-success' }, 'Active') : h('span', { class: 'badge' }, 'Inactive')),
    h('td', { class: 'actions-cell' }, button(t.active ? 'Deactivate…' : 'Reactivate', {
      class: t.active ? 'btn small' : 'btn small', testid: 'tag-toggle', 'aria-label': `${t.active ? 'Deactivate' : 'Reactivate'} ${t.tag}`,
      onclick: () => (t.active ? deactivateDialog(t.tag, redraw) : setTagActive(t.tag, true, redraw)),
    }))));
  const name = h('input', { type: 'text', testid: 'tag-new-name', autocomplete: 'off', spellcheck: 'false', placeholder: 'e.g. ITAR' });
  const nameError = fieldError('err-tag-name');
  const error = formError('tag-error');
  const add = h('button', { type: 'submit', class: 'btn primary', testid: 'tag-add' }, 'Add tag');
  const form = h('form', { class: 'add-row', novalidate: true }, field('Tag', name, { error: nameError }), h('div', { class: 'add-row-actions' }, add));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const tag = name.value.trim();
    const problem = checkName(tag, 'tag', all.map((t) => t.tag));
    setFieldError(nameError, problem);
    showError(error, '');
    if (problem) return;
    busy(add, true, 'Adding…');
    try {
      const next = await api('POST', '/api/v1/platform/tags', { tag });
      notify(`Control tag ${tag} added.`, 'success');
      redraw(next);
    } catch (err) {
      busy(add, false);
      showError(error, describeError(err));
    }
  });
  return h('section', { class: 'card', testid: 'tags-card' },
    h('h2', {}, 'Control tags'),
    h('p', { class: 'muted' }, 'A user sees a file only when they hold every control tag it carries. Only active tags can be given to files, users and connections.'),
    all.length
      ? h('div', { class: 'table-wrap flat' }, h('table', { class: 'grid', testid: 'tags-table' },
        h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Tag'), h('th', { scope: 'col' }, 'State'), h('th', { scope: 'col' }, h('span', { class: 'visually-hidden' }, 'Actions')))),
        h('tbody', {}, rows)))
      : h('div', { class: 'empty', testid: 'tags-empty' }, h('p', {}, 'No control tags yet.')),
    h('h3', {}, 'Add a control tag'), form, error);
}

async function setTagActive(tag, active, redraw, dlg) {
  try {
    const next = await api('PATCH', `/api/v1/platform/tags/${encodeURIComponent(tag)}`, { active });
    if (dlg) dlg.close();
    notify(`${tag} is ${active ? 'active again' : 'deactivated'}.`, 'success');
    redraw(next);
    return '';
  } catch (err) {
    if (!dlg) notify(`${tag} could not be changed: ${describeError(err)}`, 'error');
    return describeError(err);
  }
}

function deactivateDialog(tag, redraw) {
  const dlg = openDialog({ title: `Deactivate ${tag}?`, testid: 'tag-dialog' });
  const error = formError('tag-dialog-error');
  append(dlg.body, [
    h('p', {}, `Files carrying ${tag} are removed from every sending connection at its next sync, with the reason recorded, and ${tag} can no longer be given to files, users or connections.`),
    h('p', { class: 'muted' }, 'You can reactivate it later; removed shares are not restored by that.'),
    error,
  ]);
  const confirm = button(`Deactivate ${tag}`, { class: 'btn danger', testid: 'tag-confirm' });
  dlg.footer.append(button('Cancel', { testid: 'dlg-cancel', onclick: dlg.close }), confirm);
  confirm.addEventListener('click', async () => {
    busy(confirm, true, 'Deactivating…');
    const problem = await setTagActive(tag, false, redraw, dlg);
    if (problem) {
      busy(confirm, false);
      showError(error, problem);
    }
  });
}
