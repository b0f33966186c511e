// Airlock web admin: Secure Connections, sync status and files.
// Plain browser JavaScript, no build step and nothing loaded from elsewhere.
'use strict';

(function () {
  const TOKEN_KEY = 'airlock.token';
  const SHARED_ID_PATTERN = /^[A-Za-z0-9._-]+$/;
  const MIN_SECRET_LEN = 12;
  const PREVIEW_LEN = 60;
  const PER_PAGE = 20;

  const state = {
    generation: 0,
    platform: undefined, // undefined: not asked yet; null: not available to this user
    syncResults: {}, // connection id -> text of the last sync started from this page
  };

  // ---------------------------------------------------------------- DOM helpers

  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === undefined || value === null || value === false) continue;
      if (key === 'class') el.className = value;
      else if (key === 'testid') el.dataset.testid = value;
      else if (key === 'dataset') Object.assign(el.dataset, value);
      else if (key.startsWith('on') && typeof value === 'function') el.addEventListener(key.slice(2), value);
      else if (key === 'value') el.value = value;
      else if (key === 'checked' || key === 'disabled' || key === 'hidden' || key === 'selected' || key === 'required' || key === 'readOnly') el[key] = !!value;
      else if (value === true) el.setAttribute(key, '');
      else el.setAttribute(key, String(value));
    }
    append(el, children);
    return el;
  }

  function append(el, children) {
    for (const child of children.flat(Infinity)) {
      if (child === null || child === undefined || child === false) continue;
      el.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return el;
  }

  function clear(el) {
    while (el.firstChild) el.removeChild(el.firstChild);
    return el;
  }

  let idCounter = 0;
  function uid(prefix) {
    idCounter += 1;
    return `${prefix}-${idCounter}`;
  }

  function field(label, control, { hint, testid, error } = {}) {
    if (!control.id) control.id = uid('f');
    const hintEl = hint ? h('p', { class: 'hint', id: uid('hint') }, hint) : null;
    if (hintEl) control.setAttribute('aria-describedby', hintEl.id);
    return h('div', { class: 'field', testid },
      h('label', { for: control.id }, label),
      control,
      hintEl,
      error || null);
  }

  function fieldError(testid) {
    return h('p', { class: 'field-error', testid, hidden: true, role: 'alert' });
  }

  function setFieldError(el, text) {
    el.textContent = text || '';
    el.hidden = !text;
  }

  function checkbox(label, attrs) {
    const input = h('input', Object.assign({ type: 'checkbox', id: uid('cb') }, attrs));
    return { input, el: h('label', { class: 'check', for: input.id }, input, h('span', {}, label)) };
  }

  function select(options, attrs) {
    const el = h('select', attrs || {});
    for (const option of options) {
      el.append(h('option', { value: option.value, disabled: option.disabled }, option.label));
    }
    return el;
  }

  function fmtTime(ms) {
    if (ms === null || ms === undefined) return '—';
    const d = new Date(ms);
    return d.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'medium' });
  }

  function fmtSize(bytes) {
    if (bytes < 1024) return `${bytes} B`;
    const units = ['KiB', 'MiB', 'GiB', 'TiB'];
    let value = bytes;
    let unit = 'B';
    for (const u of units) {
      if (value < 1024) break;
      value /= 1024;
      unit = u;
    }
    return `${value.toFixed(value < 10 ? 1 : 0)} ${unit}`;
  }

  function plural(n, one, many) {
    return `${n} ${n === 1 ? one : many}`;
  }

  function kindLabel(kind) {
    return kind === 'sending' ? 'Sending' : 'Receiving';
  }

  function storeLabel(kind) {
    return kind === 'sending' ? 'Outbox' : 'Inbox';
  }

  // ---------------------------------------------------------------- notices and copying

  function notify(text, tone) {
    const box = document.querySelector('.notices');
    const note = h('div', { class: `notice ${tone || 'info'}`, testid: 'notice' }, text);
    box.append(note);
    while (box.children.length > 3) box.firstElementChild.remove();
    setTimeout(() => note.remove(), 6000);
  }

  async function copyText(text) {
    try {
      if (navigator.clipboard && window.isSecureContext) {
        await navigator.clipboard.writeText(text);
        return true;
      }
    } catch (e) {
      // fall through to the older way
    }
    const area = h('textarea', { class: 'offscreen', 'aria-hidden': 'true', readonly: true });
    area.value = text;
    document.body.append(area);
    area.select();
    let ok = false;
    try {
      ok = document.execCommand('copy');
    } catch (e) {
      ok = false;
    }
    area.remove();
    return ok;
  }

  function copyButton(getText, label, testid) {
    const button = h('button', { type: 'button', class: 'btn small ghost', testid }, label || 'Copy');
    button.addEventListener('click', async (event) => {
      event.stopPropagation();
      const ok = await copyText(getText());
      const before = button.textContent;
      button.textContent = ok ? 'Copied' : 'Copy failed';
      button.dataset.copied = ok ? 'yes' : 'no';
      setTimeout(() => { button.textContent = before; }, 1500);
    });
    return button;
  }

  // ---------------------------------------------------------------- token

  function adoptTokenFromFragment() {
    const raw = location.hash.replace(/^#/, '');
    if (!raw) return false;
    const params = new URLSearchParams(raw);
    const token = params.get('token');
    if (!token) return false;
    sessionStorage.setItem(TOKEN_KEY, token.trim());
    params.delete('token');
    const rest = params.toString();
    history.replaceState(history.state, '', location.pathname + location.search + (rest ? `#${rest}` : ''));
    state.platform = undefined;
    return true;
  }

  function token() {
    return sessionStorage.getItem(TOKEN_KEY);
  }

  function tokenClaims() {
    const t = token();
    if (!t) return null;
    try {
      const part = t.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
      const json = decodeURIComponent(Array.from(atob(part), (c) => `%${c.charCodeAt(0).toString(16).padStart(2, '0')}`).join(''));
      return JSON.parse(json);
    } catch (e) {
      return null;
    }
  }

  function signOut() {
    sessionStorage.removeItem(TOKEN_KEY);
    state.platform = undefined;
    renderSession();
    route();
  }

  function renderSession() {
    const box = clear(document.querySelector('.session'));
    if (!token()) return;
    const claims = tokenClaims();
    const who = claims && claims.sub ? claims.sub : 'unknown user';
    let expiry = null;
    if (claims && typeof claims.exp === 'number') {
      const left = claims.exp * 1000 - Date.now();
      expiry = left <= 0 ? ' (token expired)' : null;
    }
    append(box, [
      h('span', { class: 'whoami', testid: 'whoami' }, 'Signed in as ', h('strong', {}, who), expiry),
      h('button', { type: 'button', class: 'btn small ghost', testid: 'sign-out', onclick: signOut }, 'Sign out'),
    ]);
  }

  function signInBox(reason) {
    const area = h('textarea', { testid: 'signin-token', rows: 4, spellcheck: 'false', autocomplete: 'off', placeholder: 'eyJhbGciOi…' });
    const form = h('form', { class: 'card signin', testid: 'signin' },
      h('h2', {}, 'Sign in'),
      h('p', {}, reason || 'Paste an access token issued for this platform. It is kept only in this browser tab.'),
      field('Access token', area),
      h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'btn primary', testid: 'signin-submit' }, 'Continue')));
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      const value = area.value.trim();
      if (!value) {
        area.focus();
        return;
      }
      sessionStorage.setItem(TOKEN_KEY, value);
      state.platform = undefined;
      renderSession();
      route();
    });
    return form;
  }

  // ---------------------------------------------------------------- API

  class ApiError extends Error {
    constructor(status, message) {
      super(message);
      this.status = status;
    }
  }

  async function api(method, path, body) {
    const headers = { Accept: 'application/json' };
    const t = token();
    if (t) headers.Authorization = `Bearer ${t}`;
    let payload;
    if (body instanceof Blob) {
      payload = body;
      headers['Content-Type'] = 'application/octet-stream';
    } else if (body !== undefined) {
      payload = JSON.stringify(body);
      headers['Content-Type'] = 'application/json';
    }
    let response;
    try {
      response = await fetch(path, { method, headers, body: payload, cache: 'no-store' });
    } catch (e) {
      throw new ApiError(0, `the server could not be reached (${e.message})`);
    }
    const text = await response.text();
    let data = null;
    if (text) {
      try {
        data = JSON.parse(text);
      } catch (e) {
        data = null;
      }
    }
    if (!response.ok) {
      const message = data && typeof data.error === 'string' ? data.error : (text || response.statusText || 'request failed');
      throw new ApiError(response.status, message);
    }
    return data;
  }

  function describeError(err) {
    if (!(err instanceof ApiError)) return String(err && err.message ? err.message : err);
    if (err.status === 401) return `Your sign-in was not accepted (401): ${err.message}`;
    if (err.status === 403) return `You do not have permission for this (403): ${err.message}`;
    if (err.status === 0) return `Network problem: ${err.message}`;
    return `${err.message} (HTTP ${err.status})`;
  }

  function errorBox(err, testid) {
    return h('div', { class: 'callout error', role: 'alert', testid: testid || 'error', dataset: { status: err && err.status !== undefined ? String(err.status) : '' } },
      describeError(err));
  }

  function pageError(main, err) {
    const box = h('div', { class: 'page-error-wrap' });
    const status = err instanceof ApiError ? err.status : null;
    const title = status === 401 ? 'Sign-in needed' : status === 403 ? 'Access denied' : 'Something went wrong';
    append(box, [
      h('section', { class: 'callout error big', role: 'alert', testid: 'page-error', dataset: { status: status === null ? '' : String(status) } },
        h('h2', {}, title),
        h('p', {}, describeError(err)),
        status === 403 ? h('p', {}, 'This page needs an administrator token. Ask your platform administrator for access, or sign in with another token.') : null),
    ]);
    if (status === 401 || status === 403) box.append(signInBox('Paste a different access token to try again.'));
    main.append(box);
  }

  async function loadPlatform() {
    if (state.platform !== undefined) return state.platform;
    try {
      state.platform = await api('GET', '/api/v1/platform');
    } catch (e) {
      if (e instanceof ApiError && (e.status === 403 || e.status === 404)) state.platform = null;
      else throw e;
    }
    return state.platform;
  }

  // ---------------------------------------------------------------- routing

  function navigate(url) {
    history.pushState(null, '', url);
    route();
  }

  function startPage(title) {
    state.generation += 1;
    document.title = title ? `${title} · Airlock` : 'Airlock';
    for (const link of document.querySelectorAll('.mainnav a')) {
      const active = location.pathname.startsWith(link.getAttribute('href'));
      if (active) link.setAttribute('aria-current', 'page');
      else link.removeAttribute('aria-current');
    }
    const main = clear(document.getElementById('main'));
    return { main, gen: state.generation };
  }

  function stale(gen) {
    return gen !== state.generation;
  }

  function route() {
    closeMenus();
    const path = location.pathname.replace(/\/+$/, '') || '/';
    const sync = path.match(/^\/admin\/secure-connections\/(sending|receiving)\/([^/]+)\/sync-status$/);
    if (!token()) {
      const { main } = startPage('Sign in');
      main.append(signInBox());
      return;
    }
    if (path === '/admin/secure-connections' || path === '/admin') connectionsPage();
    else if (sync) syncStatusPage(sync[1], decodeURIComponent(sync[2]));
    else if (path === '/files') filesPage();
    else {
      const { main } = startPage('Not found');
      main.append(h('section', { class: 'callout' }, h('h2', {}, 'Nothing here'),
        h('p', {}, 'Try ', h('a', { href: '/admin/secure-connections', 'data-nav': true }, 'Secure Connections'), ' or ',
          h('a', { href: '/files', 'data-nav': true }, 'Files'), '.')));
    }
  }

  // ---------------------------------------------------------------- menus and dialogs

  function closeMenus(except) {
    for (const menu of document.querySelectorAll('.menu-list:not([hidden])')) {
      if (menu === except) continue;
      menu.hidden = true;
      const button = menu.previousElementSibling;
      if (button) button.setAttribute('aria-expanded', 'false');
    }
  }

  function actionMenu(items, { disabled, label, testid }) {
    const list = h('ul', { class: 'menu-list', role: 'menu', hidden: true, testid: `${testid}-menu` });
    const button = h('button', {
      type: 'button', class: 'btn small', testid, 'aria-haspopup': 'menu', 'aria-expanded': 'false', disabled, 'aria-label': label,
    }, 'Actions ', h('span', { 'aria-hidden': 'true' }, '▾'));
    for (const item of items) {
      list.append(h('li', { role: 'none' }, h('button', {
        type: 'button', role: 'menuitem', class: item.danger ? 'danger' : '', testid: item.testid,
        onclick: (event) => {
          event.stopPropagation();
          closeMenus();
          item.run();
        },
      }, item.label)));
    }
    button.addEventListener('click', (event) => {
      event.stopPropagation();
      const open = list.hidden;
      closeMenus(list);
      list.hidden = !open;
      button.setAttribute('aria-expanded', String(open));
      if (open) {
        const first = list.querySelector('button');
        if (first) first.focus();
      }
    });
    list.addEventListener('keydown', (event) => {
      const entries = Array.from(list.querySelectorAll('button'));
      const index = entries.indexOf(document.activeElement);
      if (event.key === 'ArrowDown') { event.preventDefault(); entries[(index + 1) % entries.length].focus(); }
      if (event.key === 'ArrowUp') { event.preventDefault(); entries[(index - 1 + entries.length) % entries.length].focus(); }
      if (event.key === 'Escape') { closeMenus(); button.focus(); }
    });
    return h('div', { class: 'menu' }, button, list);
  }

  document.addEventListener('click', () => closeMenus());

  function openDialog({ title, testid, wide }) {
    const titleId = uid('dlg-title');
    const body = h('div', { class: 'dialog-body' });
    const footer = h('div', { class: 'dialog-actions' });
    const heading = h('h2', { id: titleId }, title);
    const dialog = h('dialog', { class: `modal${wide ? ' wide' : ''}`, testid, 'aria-labelledby': titleId },
      h('div', { class: 'dialog-head' }, heading,
        h('button', { type: 'button', class: 'icon-btn', 'aria-label': 'Close', testid: 'dialog-close', onclick: () => dialog.close() }, '×')),
      body, footer);
    dialog.addEventListener('close', () => dialog.remove());
    document.body.append(dialog);
    dialog.showModal();
    return {
      dialog, body, footer, heading,
      close: () => dialog.close(),
      setTitle: (text) => { heading.textContent = text; },
    };
  }

  function button(label, attrs) {
    return h('button', Object.assign({ type: 'button', class: 'btn' }, attrs || {}), label);
  }

  function busy(btn, on, text) {
    if (on) {
      btn.dataset.label = btn.textContent;
      btn.textContent = text || 'Working…';
      btn.disabled = true;
      btn.setAttribute('aria-busy', 'true');
    } else {
      btn.textContent = btn.dataset.label || btn.textContent;
      btn.disabled = false;
      btn.removeAttribute('aria-busy');
    }
  }

  function showMessageDialog(title, message) {
    const dlg = openDialog({ title, testid: 'message-dialog', wide: true });
    dlg.body.append(h('pre', { class: 'message-full', testid: 'message-full' }, message));
    dlg.footer.append(copyButton(() => message, 'Copy message', 'message-copy'), button('Close', { class: 'btn primary', testid: 'message-close', onclick: dlg.close }));
  }

  // ---------------------------------------------------------------- status icons

  const HEALTH = {
    success: { label: 'Success', text: 'Last sync completed without errors', glyph: '✓' },
    degraded: { label: 'Degraded', text: 'Last sync completed with some errors', glyph: '!' },
    failure: { label: 'Failure', text: 'Last sync failed', glyph: '✕' },
    running: { label: 'Running', text: 'Sync in progress', glyph: '…' },
    none: { label: 'No sync yet', text: 'No sync has run yet', glyph: '–' },
  };

  function healthIcon(health) {
    const key = HEALTH[health] ? health : 'none';
    return h('span', { class: `health-icon health-${key}`, 'aria-hidden': 'true' }, HEALTH[key].glyph);
  }

  function statusBadge(status, testid) {
    const key = HEALTH[status] ? status : 'none';
    return h('span', { class: `badge health-${key}`, testid, dataset: { status: status || 'none' } }, HEALTH[key].label);
  }

  const OUTCOMES = {
    updated: 'Updated', unchanged: 'Unchanged', removed: 'Removed', failed: 'Failed',
  };

  function outcomeBadge(outcome) {
    return h('span', { class: `badge outcome-${outcome}`, testid: 'resource-outcome', dataset: { outcome } }, OUTCOMES[outcome] || outcome);
  }

  // ---------------------------------------------------------------- connections page

  const SORTERS = {
    health: (c) => ({ failure: 0, degraded: 1, success: 2 }[c.health] ?? 3),
    name: (c) => c.name.toLowerCase(),
    description: (c) => (c.description || '').toLowerCase(),
    shared_id: (c) => c.shared_id.toLowerCase(),
    store: (c) => c.store.toLowerCase(),
    transform_count: (c) => c.transform_count,
    permitted_tags: (c) => (c.permitted_tags || []).join(', ').toLowerCase(),
    permitted_level: (c) => (c.permitted_level ? c.permitted_level.order : -1),
  };

  function connectionsQuery() {
    const params = new URLSearchParams(location.search);
    return {
      kind: params.get('tab') === 'receiving' ? 'receiving' : 'sending',
      all: params.get('show') === 'all',
      sort: SORTERS[params.get('sort')] ? params.get('sort') : 'name',
      dir: params.get('dir') === 'desc' ? 'desc' : 'asc',
    };
  }

  function setConnectionsQuery(changes) {
    const q = Object.assign(connectionsQuery(), changes);
    const params = new URLSearchParams();
    if (q.kind !== 'sending') params.set('tab', q.kind);
    if (q.all) params.set('show', 'all');
    if (q.sort !== 'name') params.set('sort', q.sort);
    if (q.dir !== 'asc') params.set('dir', q.dir);
    const search = params.toString();
    history.replaceState(null, '', `/admin/secure-connections${search ? `?${search}` : ''}`);
  }

  async function connectionsPage() {
    const { main, gen } = startPage('Secure Connections');
    const q = connectionsQuery();

    const addList = h('ul', { class: 'menu-list', role: 'menu', hidden: true, testid: 'add-connection-menu' },
      h('li', { role: 'none' }, h('button', { type: 'button', role: 'menuitem', testid: 'add-sending', onclick: () => { closeMenus(); addConnectionDialog('sending'); } }, 'Add Sending Connection')),
      h('li', { role: 'none' }, h('button', { type: 'button', role: 'menuitem', testid: 'add-receiving', onclick: () => { closeMenus(); addConnectionDialog('receiving'); } }, 'Add Receiving Connection')));
    const addButton = h('button', { type: 'button', class: 'btn primary', testid: 'add-connection', 'aria-haspopup': 'menu', 'aria-expanded': 'false' }, 'Add Secure Connection');
    addButton.addEventListener('click', (event) => {
      event.stopPropagation();
      const open = addList.hidden;
      closeMenus(addList);
      addList.hidden = !open;
      addButton.setAttribute('aria-expanded', String(open));
    });

    const tab = (kind) => h('button', {
      type: 'button', role: 'tab', class: 'tab', testid: `tab-${kind}`, 'aria-selected': String(q.kind === kind),
      onclick: () => { setConnectionsQuery({ kind }); connectionsPage(); },
    }, `${kindLabel(kind)} Connections`);
    const toggle = (all, label) => h('button', {
      type: 'button', class: 'seg', testid: all ? 'filter-all' : 'filter-active', 'aria-pressed': String(q.all === all),
      onclick: () => { setConnectionsQuery({ all }); connectionsPage(); },
    }, label);

    const tableBox = h('div', { class: 'table-wrap', testid: 'connections' }, h('p', { class: 'muted' }, 'Loading connections…'));
    append(main, [
      h('div', { class: 'page-head' },
        h('div', {},
          h('h1', {}, 'Secure Connections'),
          h('p', { class: 'lead' }, 'Channels that exchange files with partner organizations through encrypted, signed object storage.')),
        h('div', { class: 'menu' }, addButton, addList)),
      h('div', { class: 'tabbar' },
        h('div', { role: 'tablist', 'aria-label': 'Connection kind' }, tab('sending'), tab('receiving')),
        h('div', { class: 'segmented', role: 'group', 'aria-label': 'Which connections to show' }, toggle(false, 'Active'), toggle(true, 'All'))),
      h('div', { role: 'tabpanel', 'aria-label': `${kindLabel(q.kind)} connections` }, tableBox),
    ]);

    let connections;
    let platform;
    try {
      [connections, platform] = await Promise.all([
        api('GET', `/api/v1/connections?kind=${q.kind}&include_archived=${q.all}`),
        loadPlatform(),
      ]);
    } catch (err) {
      if (stale(gen)) return;
      clear(tableBox);
      if (err instanceof ApiError && (err.status === 401 || err.status === 403)) {
        clear(main);
        pageError(main, err);
      } else {
        tableBox.append(errorBox(err, 'page-error'));
      }
      return;
    }
    if (stale(gen)) return;
    clear(tableBox).append(connectionsTable(q, connections, platform));
  }

  function connectionsTable(q, connections, platform) {
    const infosec = !platform || platform.infosec_enabled !== false;
    const columns = [
      { key: 'health', label: 'Status', hiddenLabel: true },
      { key: 'name', label: 'Name' },
      { key: 'description', label: 'Description' },
      { key: 'shared_id', label: 'Shared ID' },
      { key: 'store', label: storeLabel(q.kind) },
      { key: 'transform_count', label: 'Transform Config' },
    ];
    if (q.kind === 'sending') {
      columns.push({ key: 'permitted_tags', label: 'Permitted Control Tags' });
      if (infosec) columns.push({ key: 'permitted_level', label: 'Permitted Infosec Level' });
    }

    const sorter = SORTERS[q.sort];
    const rows = connections.slice().sort((a, b) => {
      const x = sorter(a);
      const y = sorter(b);
      const order = x < y ? -1 : x > y ? 1 : a.name.localeCompare(b.name);
      return q.dir === 'desc' ? -order : order;
    });

    const head = h('tr', {});
    for (const column of columns) {
      const active = q.sort === column.key;
      const arrow = active ? (q.dir === 'asc' ? '▲' : '▼') : '↕';
      head.append(h('th', { scope: 'col', 'aria-sort': active ? (q.dir === 'asc' ? 'ascending' : 'descending') : 'none' },
        h('button', {
          type: 'button', class: 'sort', testid: `sort-${column.key}`,
          onclick: () => {
            setConnectionsQuery({ sort: column.key, dir: active && q.dir === 'asc' ? 'desc' : 'asc' });
            const next = connectionsQuery();
            const wrap = document.querySelector('[data-testid="connections"]');
            clear(wrap).append(connectionsTable(next, connections, platform));
            const again = wrap.querySelector(`[data-testid="sort-${column.key}"]`);
            if (again) again.focus();
          },
        }, column.hiddenLabel ? h('span', { class: 'visually-hidden' }, column.label) : column.label,
        h('span', { class: `sort-arrow${active ? ' on' : ''}`, 'aria-hidden': 'true' }, arrow))));
    }
    head.append(h('th', { scope: 'col' }, h('span', { class: 'visually-hidden' }, 'Actions')));

    const body = h('tbody', {});
    for (const c of rows) body.append(connectionRow(c, q, infosec));
    const table = h('table', { class: 'grid', testid: 'connections-table', dataset: { kind: q.kind } },
      h('caption', { class: 'visually-hidden' }, `${kindLabel(q.kind)} connections, sorted by ${q.sort} ${q.dir === 'asc' ? 'ascending' : 'descending'}`),
      h('thead', {}, head), body);
    if (!rows.length) {
      return h('div', { class: 'empty', testid: 'connections-empty' },
        h('p', {}, q.all ? `No ${q.kind} connections yet.` : `No active ${q.kind} connections.`),
        h('p', { class: 'muted' }, 'Use “Add Secure Connection” to create one.'));
    }
    return table;
  }

  function connectionRow(c, q, infosec) {
    const archived = !!c.archived;
    const syncPath = `/admin/secure-connections/${c.kind}/${encodeURIComponent(c.id)}/sync-status`;
    const healthKey = c.health || 'none';
    const syncState = h('span', { class: 'sync-state muted', testid: 'sync-state', 'aria-live': 'polite' });
    const last = state.syncResults[c.id];
    if (last) {
      syncState.textContent = last.text;
      syncState.dataset.state = last.state;
    }
    const syncButton = h('button', {
      type: 'button', class: 'btn small', testid: 'sync-now', disabled: archived,
      'aria-label': `Sync ${c.name} now`,
    }, 'Sync now');
    syncButton.addEventListener('click', () => syncNow(c, syncButton, syncState));

    const items = [
      { label: 'Edit', testid: 'action-edit', run: () => editConnectionDialog(c) },
      { label: 'Edit Transform Config', testid: 'action-transforms', run: () => transformDialog(c) },
    ];
    if (c.kind === 'receiving') items.push({ label: 'Edit Owners', testid: 'action-owners', run: () => ownersDialog(c) });
    items.push({ label: 'Archive', testid: 'action-archive', danger: true, run: () => archiveDialog(c) });

    const cells = [
      h('td', { class: 'status-cell' },
        h('a', {
          href: syncPath, 'data-nav': true, class: 'status-link', testid: 'status-link', dataset: { health: healthKey },
          title: `${HEALTH[healthKey].text}. Open the sync status page.`,
        }, healthIcon(healthKey), h('span', { class: 'visually-hidden' }, `Sync status of ${c.name}: ${HEALTH[healthKey].label}`))),
      h('td', { class: 'name-cell' },
        h('span', { testid: 'cell-name' }, c.name),
        archived ? h('span', { class: 'badge archived-badge', testid: 'archived-badge', title: c.archived_at ? `Archived ${fmtTime(c.archived_at)}` : 'Archived' }, 'Archived') : null),
      h('td', { class: 'desc-cell', testid: 'cell-description' }, c.description || h('span', { class: 'muted' }, '—')),
      h('td', {}, h('code', { class: 'shared-id', testid: 'cell-shared-id' }, c.shared_id)),
      h('td', { testid: 'cell-store', class: 'store-cell' }, c.store,
        c.store_also_used_by && c.store_also_used_by.length
          ? h('span', { class: 'warn-dot', title: `Also used by: ${c.store_also_used_by.join(', ')}`, 'aria-label': `Also used by ${c.store_also_used_by.join(', ')}` }, '!')
          : null),
      h('td', {}, h('button', {
        type: 'button', class: 'count', testid: 'transform-count', disabled: archived,
        'aria-label': `${plural(c.transform_count, 'transform rule', 'transform rules')}; edit`,
        onclick: () => transformDialog(c),
      }, String(c.transform_count))),
    ];
    if (q.kind === 'sending') {
      cells.push(h('td', { testid: 'cell-tags' }, (c.permitted_tags || []).length
        ? h('span', { class: 'tags' }, c.permitted_tags.map((t) => h('span', { class: 'tag' }, t)))
        : h('span', { class: 'muted' }, 'None')));
      if (infosec) cells.push(h('td', { testid: 'cell-level' }, c.permitted_level ? c.permitted_level.name : h('span', { class: 'muted' }, '—')));
    }
    cells.push(h('td', { class: 'actions-cell' },
      h('div', { class: 'row-actions' }, syncButton,
        actionMenu(items, { disabled: archived, label: `Actions for ${c.name}`, testid: 'row-actions' })),
      syncState));
    return h('tr', {
      class: `connection-row${archived ? ' archived' : ''}`, testid: 'connection-row',
      dataset: { id: c.id, name: c.name, kind: c.kind, archived: String(archived) },
    }, cells);
  }

  async function syncNow(c, btn, stateEl) {
    const show = (text, st) => {
      stateEl.textContent = text;
      stateEl.dataset.state = st;
      state.syncResults[c.id] = { text, state: st };
    };
    busy(btn, true, 'Starting…');
    show('Starting a sync…', 'starting');
    try {
      const started = await api('POST', `/api/v1/connections/${encodeURIComponent(c.id)}/sync`);
      show('Sync running…', 'running');
      const event = await waitForSync(c.id, started && started.sync_id, 60000);
      if (!event) {
        show('Sync still running; see the sync status page.', 'running');
      } else {
        const updated = event.updated ? `, ${plural(event.updated, 'file', 'files')} updated` : '';
        show(`Last sync: ${HEALTH[event.status] ? HEALTH[event.status].label.toLowerCase() : event.status}${updated}`, event.status);
        notify(`Sync of “${c.name}” finished: ${event.status}.`, event.status === 'success' ? 'success' : 'warning');
      }
      if (document.body.contains(stateEl) && location.pathname === '/admin/secure-connections') connectionsPage();
    } catch (err) {
      show(`Sync could not start: ${describeError(err)}`, 'error');
    } finally {
      if (document.body.contains(btn)) busy(btn, false);
    }
  }

  async function waitForSync(connectionId, syncId, timeoutMs) {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const page = await api('GET', `/api/v1/connections/${encodeURIComponent(connectionId)}/sync-events?filter=all&page=1&per_page=10`);
      const event = (page.events || []).find((e) => e.sync_id === syncId);
      if (event && event.status !== 'running') return event;
      await new Promise((resolve) => setTimeout(resolve, 400));
    }
    return null;
  }

  // ---------------------------------------------------------------- add and edit

  function storeOptions(platform, kind, current) {
    const stores = platform && platform.stores ? platform.stores : [];
    const options = [{ value: '', label: `Choose the ${storeLabel(kind).toLowerCase()}…`, disabled: true }];
    for (const s of stores) options.push({ value: s, label: s });
    if (current && !stores.includes(current)) options.push({ value: current, label: current });
    return options;
  }

  function levelOptions(platform) {
    const options = [{ value: '', label: 'No level (nothing with a level passes)' }];
    for (const level of (platform && platform.levels) || []) options.push({ value: level.name, label: `${level.name} (${level.order})` });
    return options;
  }

  function tagPicker(platform, selected, testPrefix) {
    const tags = (platform && platform.control_tags) || [];
    const wrap = h('fieldset', { class: 'tag-picker', testid: `${testPrefix}-tags` }, h('legend', {}, 'Permitted Control Tags'));
    const boxes = [];
    if (!tags.length) wrap.append(h('p', { class: 'muted' }, 'This platform has no active control tags.'));
    for (const tag of tags) {
      const cb = checkbox(tag, { value: tag, checked: selected.includes(tag), testid: `${testPrefix}-tag-${tag}` });
      boxes.push(cb.input);
      wrap.append(cb.el);
    }
    wrap.append(h('p', { class: 'hint' }, 'Only files whose every tag is permitted here can flow through this connection.'));
    return { el: wrap, value: () => boxes.filter((b) => b.checked).map((b) => b.value) };
  }

  function storeWarning(testid) {
    return h('div', { class: 'callout warning', testid, hidden: true, role: 'status' });
  }

  function otherUsers(list, store, selfId) {
    return list.filter((c) => !c.archived && c.store === store && c.id !== selfId).map((c) => c.name);
  }

  async function addConnectionDialog(kind) {
    const sending = kind === 'sending';
    const dlg = openDialog({ title: `Add ${kindLabel(kind)} Connection`, testid: 'connection-dialog' });
    dlg.body.append(h('p', { class: 'muted' }, 'Loading…'));
    let platform;
    let existing;
    try {
      [platform, existing] = await Promise.all([
        loadPlatform(),
        api('GET', `/api/v1/connections?kind=${kind}&include_archived=false`),
      ]);
    } catch (err) {
      clear(dlg.body).append(errorBox(err, 'dlg-error'));
      dlg.footer.append(button('Close', { onclick: dlg.close }));
      return;
    }
    clear(dlg.body);

    const name = h('input', { type: 'text', testid: 'dlg-name', autocomplete: 'off', required: true, maxlength: 200 });
    const description = h('textarea', { testid: 'dlg-description', rows: 2 });
    const store = select(storeOptions(platform, kind), { testid: 'dlg-store', required: true });
    store.value = '';
    const warning = storeWarning('store-warning');
    store.addEventListener('change', () => {
      const users = otherUsers(existing, store.value, null);
      warning.textContent = users.length
        ? `${store.value} is already the ${storeLabel(kind).toLowerCase()} of another ${kind} connection: ${users.join(', ')}. Sharing one store between ${kind} connections is allowed, but make sure it is intended.`
        : '';
      warning.hidden = !users.length;
    });
    const sharedId = h('input', { type: 'text', testid: 'dlg-shared-id', autocomplete: 'off', spellcheck: 'false', required: true });
    const sharedIdError = fieldError('err-shared-id');
    sharedId.addEventListener('input', () => {
      const v = sharedId.value.trim();
      setFieldError(sharedIdError, v && !SHARED_ID_PATTERN.test(v) ? 'Use only letters, digits, “.”, “-” and “_” (no spaces).' : '');
    });
    const secret = h('input', { type: 'password', testid: 'dlg-secret', autocomplete: 'new-password', required: true });
    const secretConfirm = h('input', { type: 'password', testid: 'dlg-secret-confirm', autocomplete: 'new-password' });
    const secretError = fieldError('err-secret');
    const nameError = fieldError('err-name');
    const storeError = fieldError('err-store');
    const infosec = platform && platform.infosec_enabled;
    const level = select(levelOptions(platform), { testid: 'dlg-level' });
    const tags = tagPicker(platform, [], 'dlg');
    const certify = checkbox('I confirm that this connection will share data with an external organization.', { testid: 'dlg-certify' });
    const certifyError = fieldError('err-certify');
    const formError = h('div', { class: 'callout error', testid: 'dlg-error', hidden: true, role: 'alert' });

    const form = h('form', { class: 'form', novalidate: true, id: uid('form') },
      field('Name', name, { error: nameError }),
      field('Description (optional)', description),
      field(storeLabel(kind), store, {
        hint: sending ? 'The object store this connection writes to for the partner.' : 'The object store where the partner’s data arrives.',
        error: storeError,
      }),
      warning,
      field('Shared ID', sharedId, {
        hint: sending
          ? 'A short name for the channel: letters, digits, “.”, “-” and “_”. A random suffix is added when you create it.'
          : 'Exactly as the sending partner gave it to you, suffix included.',
        error: sharedIdError,
      }),
      field(sending ? 'Shared Secret' : 'Shared Secret (from the partner)', secret, {
        hint: sending ? `At least ${MIN_SECRET_LEN} characters. Treat it like a password: it cannot be shown again later.` : 'As the sending partner gave it to you.',
      }),
      sending ? field('Confirm Shared Secret', secretConfirm) : null,
      secretError,
      sending && infosec ? field('Permitted Infosec Level', level, { hint: 'The highest classification allowed through this connection.' }) : null,
      sending ? tags.el : null,
      sending ? h('div', { class: 'certify' }, certify.el, certifyError) : null,
      formError);
    dlg.body.append(form);

    const create = h('button', { type: 'submit', class: 'btn primary', testid: 'dlg-submit', form: form.id }, 'Create');
    dlg.footer.append(button('Cancel', { testid: 'dlg-cancel', onclick: dlg.close }), create);
    name.focus();

    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      let ok = true;
      const check = (el, cond, text) => {
        setFieldError(el, cond ? '' : text);
        if (!cond) ok = false;
      };
      const sid = sharedId.value.trim();
      check(nameError, name.value.trim() !== '', 'Enter a name.');
      check(storeError, store.value !== '', `Choose the ${storeLabel(kind).toLowerCase()}.`);
      check(sharedIdError, sid !== '' && SHARED_ID_PATTERN.test(sid), sid === '' ? 'Enter a shared ID.' : 'Use only letters, digits, “.”, “-” and “_” (no spaces).');
      if (secret.value.length < MIN_SECRET_LEN) check(secretError, false, `The secret needs at least ${MIN_SECRET_LEN} characters.`);
      else if (sending && secret.value !== secretConfirm.value) check(secretError, false, 'The two secrets differ.');
      else setFieldError(secretError, '');
      if (sending) check(certifyError, certify.input.checked, 'Tick the certification to create a sending connection.');
      formError.hidden = ok;
      formError.textContent = ok ? '' : 'Please correct the highlighted fields.';
      if (!ok) return;

      const payload = sending
        ? {
          name: name.value.trim(), description: description.value, outbox: store.value, shared_id: sid,
          secret: secret.value, secret_confirmation: secretConfirm.value,
          permitted_level: infosec && level.value ? level.value : null, permitted_tags: tags.value(), certified: certify.input.checked,
        }
        : { name: name.value.trim(), description: description.value, inbox: store.value, shared_id: sid, secret: secret.value };
      busy(create, true, 'Creating…');
      try {
        const created = await api('POST', `/api/v1/connections/${kind}`, payload);
        secret.value = '';
        secretConfirm.value = '';
        setConnectionsQuery({ kind });
        if (sending) {
          credentialsScreen(dlg, created);
        } else {
          dlg.close();
          notify(`Receiving connection “${created.connection.name}” created. You are its first owner.`, 'success');
        }
        if (location.pathname === '/admin/secure-connections') connectionsPage();
      } catch (err) {
        busy(create, false);
        formError.hidden = false;
        formError.textContent = describeError(err);
      }
    });
  }

  function credentialsScreen(dlg, created) {
    const creds = created.credentials;
    dlg.setTitle('Connection created');
    dlg.dialog.dataset.testid = 'credentials-dialog';
    clear(dlg.body);
    clear(dlg.footer);
    const secretText = h('code', { class: 'secret masked', testid: 'cred-secret', dataset: { masked: 'true' } }, '•'.repeat(Math.min(creds.shared_secret.length, 24)));
    const reveal = button('Show', { class: 'btn small ghost', testid: 'cred-reveal', 'aria-pressed': 'false' });
    reveal.addEventListener('click', () => {
      const masked = secretText.dataset.masked === 'true';
      secretText.textContent = masked ? creds.shared_secret : '•'.repeat(Math.min(creds.shared_secret.length, 24));
      secretText.dataset.masked = String(!masked);
      secretText.classList.toggle('masked', !masked);
      reveal.textContent = masked ? 'Hide' : 'Show';
      reveal.setAttribute('aria-pressed', String(masked));
    });
    append(dlg.body, [
      h('p', {}, `“${created.connection.name}” is ready. Give these two values to the partner so they can set up the matching receiving connection.`),
      h('div', { class: 'callout warning', role: 'note' }, 'This is the only time the secret is shown. Copy it now and pass it on through a safe channel.'),
      h('dl', { class: 'credentials' },
        h('dt', {}, 'Shared ID'),
        h('dd', {}, h('code', { testid: 'cred-shared-id' }, creds.shared_id), copyButton(() => creds.shared_id, 'Copy', 'cred-copy-shared-id')),
        h('dt', {}, 'Shared Secret'),
        h('dd', {}, secretText, reveal, copyButton(() => creds.shared_secret, 'Copy', 'cred-copy-secret'))),
    ]);
    dlg.footer.append(button('Done', {
      class: 'btn primary', testid: 'cred-done',
      onclick: () => {
        creds.shared_secret = '';
        dlg.close();
      },
    }));
    dlg.dialog.addEventListener('close', () => { creds.shared_secret = ''; });
  }

  async function editConnectionDialog(c) {
    const sending = c.kind === 'sending';
    const dlg = openDialog({ title: `Edit ${c.name}`, testid: 'edit-dialog' });
    let platform;
    let existing;
    let fresh;
    try {
      [platform, existing, fresh] = await Promise.all([
        loadPlatform(),
        api('GET', `/api/v1/connections?kind=${c.kind}&include_archived=false`),
        api('GET', `/api/v1/connections/${encodeURIComponent(c.id)}`),
      ]);
    } catch (err) {
      dlg.body.append(errorBox(err, 'dlg-error'));
      dlg.footer.append(button('Close', { onclick: dlg.close }));
      return;
    }
    const infosec = platform && platform.infosec_enabled;
    const name = h('input', { type: 'text', testid: 'edit-name', value: fresh.name, required: true });
    const description = h('textarea', { testid: 'edit-description', rows: 2 });
    description.value = fresh.description || '';
    const store = select(storeOptions(platform, c.kind, fresh.store), { testid: 'edit-store' });
    store.value = fresh.store;
    const storeBox = h('div', { class: 'callout warning', testid: 'edit-store-warning', hidden: true });
    const storeConfirm = checkbox('I understand: the new store is used from the next sync on, and data already synced stays where it is.', { testid: 'edit-store-confirm' });
    const storeNote = h('p', { class: 'warn-text' });
    storeBox.append(storeNote, storeConfirm.el);
    const sharedInfo = h('div', { class: 'callout', testid: 'edit-store-shared', hidden: !(fresh.store_also_used_by || []).length },
      `Also used by: ${(fresh.store_also_used_by || []).join(', ')}`);
    store.addEventListener('change', () => {
      const changed = store.value !== fresh.store;
      storeBox.hidden = !changed;
      storeConfirm.input.checked = false;
      const users = otherUsers(existing, store.value, fresh.id);
      storeNote.textContent = `You are changing the ${storeLabel(c.kind).toLowerCase()} from ${fresh.store} to ${store.value}.`
        + (users.length ? ` ${store.value} is already used by: ${users.join(', ')}.` : '');
      sharedInfo.hidden = true;
    });

    // Staged secret
    const secret = h('input', { type: 'password', testid: 'edit-secret', autocomplete: 'new-password' });
    const secretConfirm = h('input', { type: 'password', testid: 'edit-secret-confirm', autocomplete: 'new-password' });
    const secretBox = h('div', { class: 'staged', hidden: true, testid: 'edit-secret-box' },
      field(sending ? 'New Shared Secret' : 'New Shared Secret (from the partner)', secret, { hint: `At least ${MIN_SECRET_LEN} characters. Applied only when you save.` }),
      sending ? field('Confirm New Shared Secret', secretConfirm) : null);
    const secretToggle = button(sending ? 'Reset Secret' : 'Update Secret', { class: 'btn small', testid: 'edit-secret-toggle', 'aria-expanded': 'false' });
    secretToggle.addEventListener('click', () => {
      const open = secretBox.hidden;
      secretBox.hidden = !open;
      secretToggle.setAttribute('aria-expanded', String(open));
      secretToggle.textContent = open ? 'Keep current secret' : (sending ? 'Reset Secret' : 'Update Secret');
      if (!open) { secret.value = ''; secretConfirm.value = ''; } else secret.focus();
    });

    const level = select(levelOptions(platform), { testid: 'edit-level' });
    level.value = fresh.permitted_level ? fresh.permitted_level.name : '';
    const tags = tagPicker(platform, fresh.permitted_tags || [], 'edit');
    const error = h('div', { class: 'callout error', testid: 'dlg-error', hidden: true, role: 'alert' });

    const sharedIdInput = h('input', { type: 'text', readOnly: true, value: fresh.shared_id, testid: 'edit-shared-id', class: 'mono', id: uid('sid') });
    const form = h('form', { class: 'form', novalidate: true, id: uid('form') },
      field('Name', name),
      field('Description', description),
      h('div', { class: 'field' },
        h('label', { for: sharedIdInput.id }, 'Shared ID (cannot be changed)'),
        h('div', { class: 'inline' }, sharedIdInput, copyButton(() => fresh.shared_id, 'Copy', 'edit-copy-shared-id'))),
      field(storeLabel(c.kind), store),
      sharedInfo,
      storeBox,
      h('div', { class: 'field' }, h('span', { class: 'label' }, 'Shared Secret'), h('div', { class: 'inline' }, h('span', { class: 'muted' }, 'Stored encrypted; never shown.'), secretToggle)),
      secretBox,
      sending && infosec ? field('Permitted Infosec Level', level) : null,
      sending ? tags.el : null,
      error);
    dlg.body.append(form);
    const save = h('button', { type: 'submit', class: 'btn primary', testid: 'edit-save', form: form.id }, 'Save');
    dlg.footer.append(button('Cancel', { testid: 'dlg-cancel', onclick: dlg.close }), save);

    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      const fail = (text) => {
        error.hidden = false;
        error.textContent = text;
      };
      const patch = {};
      if (!name.value.trim()) return fail('The name cannot be empty.');
      if (name.value.trim() !== fresh.name) patch.name = name.value.trim();
      if (description.value !== (fresh.description || '')) patch.description = description.value;
      if (store.value !== fresh.store) {
        if (!storeConfirm.input.checked) return fail('Tick the confirmation to change the store.');
        patch.store = store.value;
        patch.confirm_store_change = true;
      }
      if (!secretBox.hidden) {
        if (secret.value.length < MIN_SECRET_LEN) return fail(`The new secret needs at least ${MIN_SECRET_LEN} characters.`);
        if (sending && secret.value !== secretConfirm.value) return fail('The two new secrets differ.');
        patch.secret = secret.value;
        if (sending) patch.secret_confirmation = secretConfirm.value;
      }
      if (sending) {
        const newLevel = infosec && level.value ? level.value : null;
        const oldLevel = fresh.permitted_level ? fresh.permitted_level.name : null;
        if (infosec && newLevel !== oldLevel) patch.permitted_level = newLevel;
        const newTags = tags.value().slice().sort();
        const oldTags = (fresh.permitted_tags || []).slice().sort();
        if (newTags.join('\n') !== oldTags.join('\n')) patch.permitted_tags = newTags;
      }
      if (!Object.keys(patch).length) {
        dlg.close();
        return undefined;
      }
      busy(save, true, 'Saving…');
      try {
        await api('PATCH', `/api/v1/connections/${encodeURIComponent(c.id)}`, patch);
        dlg.close();
        notify(`Saved “${patch.name || fresh.name}”.`, 'success');
        if (location.pathname === '/admin/secure-connections') connectionsPage();
      } catch (err) {
        busy(save, false);
        fail(describeError(err));
      }
      return undefined;
    });
  }

  // ---------------------------------------------------------------- transforms

  const RULE_KINDS = {
    add: { label: 'Add control tag', needsPredicate: false, needsValue: true },
    remove: { label: 'Remove control tag', needsPredicate: true, needsValue: false },
    map: { label: 'Map control tag', needsPredicate: true, needsValue: true },
  };

  async function transformDialog(c) {
    const dlg = openDialog({ title: `Transform Config · ${c.name}`, testid: 'transform-dialog', wide: true });
    let config;
    try {
      config = await api('GET', `/api/v1/connections/${encodeURIComponent(c.id)}/transforms`);
    } catch (err) {
      dlg.body.append(errorBox(err, 'tf-error'));
      dlg.footer.append(button('Close', { onclick: dlg.close }));
      return;
    }
    const rules = config.rules.map((r) => ({ kind: r.kind, predicate: r.predicate, value: r.value, description: r.description }));
    const predicateChoices = config.predicate_choices || [];
    const valueChoices = config.value_choices || [];
    const receiving = c.kind === 'receiving';

    const list = h('ul', { class: 'rules', testid: 'tf-rules' });
    const uncovered = h('div', { class: 'callout warning', testid: 'tf-uncovered', hidden: true, role: 'status' });
    const error = h('div', { class: 'callout error', testid: 'tf-error', hidden: true, role: 'alert' });

    function uncoveredTags() {
      if (!receiving) return [];
      const covered = new Set(rules.filter((r) => r.kind !== 'add').map((r) => r.predicate));
      // Incoming tags are the predicate choices; the server also tells what its saved rules leave uncovered.
      const incoming = new Set([...predicateChoices, ...(config.uncovered_incoming_tags || [])]);
      return [...incoming].filter((t) => !covered.has(t)).sort();
    }

    function renderRules() {
      clear(list);
      if (!rules.length) list.append(h('li', { class: 'muted empty-rule' }, 'No rules: tags pass through unchanged.'));
      rules.forEach((rule, index) => {
        const what = rule.kind === 'add' ? [h('span', { class: 'tag' }, rule.value)]
          : rule.kind === 'remove' ? [h('span', { class: 'tag' }, rule.predicate)]
            : [h('span', { class: 'tag' }, rule.predicate), h('span', { class: 'arrow', 'aria-label': 'becomes' }, ' → '), h('span', { class: 'tag' }, rule.value)];
        list.append(h('li', { class: 'rule', testid: 'tf-rule', dataset: { kind: rule.kind, predicate: rule.predicate || '', value: rule.value || '' } },
          h('span', { class: `badge rule-${rule.kind}` }, RULE_KINDS[rule.kind] ? RULE_KINDS[rule.kind].label : rule.kind),
          h('span', { class: 'rule-what' }, what),
          h('span', { class: 'rule-desc' }, rule.description),
          button('Remove', {
            class: 'btn small ghost', testid: 'tf-rule-remove', 'aria-label': `Remove rule: ${rule.description}`,
            onclick: () => { rules.splice(index, 1); renderRules(); },
          })));
      });
      const missing = uncoveredTags();
      uncovered.hidden = !missing.length;
      uncovered.textContent = missing.length
        ? `Incoming tag(s) not covered by any Remove or Map rule: ${missing.join(', ')}. A sync that meets them fails until a rule covers them.`
        : '';
    }

    const kindSelect = select(Object.entries(RULE_KINDS).map(([value, k]) => ({ value, label: k.label })), { testid: 'tf-kind' });
    kindSelect.value = 'map';
    const predicate = select([{ value: '', label: 'Choose a tag…', disabled: true }].concat(predicateChoices.map((t) => ({ value: t, label: t }))), { testid: 'tf-predicate' });
    predicate.value = '';
    const value = select([{ value: '', label: 'Choose a tag…', disabled: true }].concat(valueChoices.map((t) => ({ value: t, label: t }))), { testid: 'tf-value' });
    value.value = '';
    const description = h('input', { type: 'text', testid: 'tf-description', placeholder: 'Why this rule exists' });
    const addError = fieldError('tf-add-error');
    const predicateNote = h('p', { class: 'hint', testid: 'tf-predicate-note', hidden: predicateChoices.length > 0 },
      receiving ? 'No incoming tags seen from the partner yet; they are known after the first sync.' : 'This connection has no permitted control tags, so there is nothing to choose.');
    const valueNote = h('p', { class: 'hint', testid: 'tf-value-note', hidden: valueChoices.length > 0 },
      receiving ? 'This platform has no active control tags.' : 'This connection has no permitted control tags, so there is nothing to choose.');
    predicate.disabled = !predicateChoices.length;
    value.disabled = !valueChoices.length;
    const predicateField = field('When the tag is', predicate);
    predicateField.append(predicateNote);
    const valueField = field(kindSelect.value === 'add' ? 'Add the tag' : 'Replace it with', value);
    valueField.append(valueNote);
    const valueLabel = valueField.querySelector('label');
    function syncKind() {
      const k = RULE_KINDS[kindSelect.value];
      predicateField.hidden = !k.needsPredicate;
      valueField.hidden = !k.needsValue;
      valueLabel.textContent = kindSelect.value === 'add' ? 'Tag to add' : 'Replace it with';
      predicateField.querySelector('label').textContent = kindSelect.value === 'remove' ? 'Tag to remove' : 'When the tag is';
    }
    kindSelect.addEventListener('change', syncKind);
    syncKind();

    const addRule = button('Add rule', { class: 'btn', testid: 'tf-add' });
    addRule.addEventListener('click', () => {
      const kind = kindSelect.value;
      const k = RULE_KINDS[kind];
      if (k.needsPredicate && !predicate.value) return setFieldError(addError, predicateChoices.length ? 'Choose the tag the rule applies to.' : 'There are no tags to choose from yet.');
      if (k.needsValue && !value.value) return setFieldError(addError, valueChoices.length ? 'Choose the tag to write.' : 'There are no tags to choose from.');
      if (!description.value.trim()) return setFieldError(addError, 'Every rule needs a description.');
      setFieldError(addError, '');
      rules.push({ kind, predicate: k.needsPredicate ? predicate.value : null, value: k.needsValue ? value.value : null, description: description.value.trim() });
      description.value = '';
      predicate.value = '';
      value.value = '';
      renderRules();
      return undefined;
    });

    append(dlg.body, [
      h('p', { class: 'callout', testid: 'tf-order-note' },
        'Rules always run in this order, whatever order they are listed in: first removes, then maps, then adds.'),
      receiving
        ? h('p', { class: 'muted' }, 'Predicates come from the tags the partner sends; values from this platform’s active control tags. Map the partner’s tags to honest local equivalents.')
        : h('p', { class: 'muted' }, 'Predicates and values come from this connection’s permitted control tags.'),
      uncovered,
      h('h3', {}, 'Rules'),
      list,
      h('fieldset', { class: 'add-rule', testid: 'tf-add-form' },
        h('legend', {}, 'New rule'),
        h('div', { class: 'grid-form' },
          field('Type', kindSelect),
          predicateField,
          valueField,
          field('Description', description)),
        addError,
        h('div', { class: 'actions' }, addRule)),
      error,
    ]);
    renderRules();

    const save = button('Save', { class: 'btn primary', testid: 'tf-save' });
    dlg.footer.append(button('Cancel', { testid: 'dlg-cancel', onclick: dlg.close }), save);
    save.addEventListener('click', async () => {
      busy(save, true, 'Saving…');
      try {
        const saved = await api('PUT', `/api/v1/connections/${encodeURIComponent(c.id)}/transforms`, { rules });
        dlg.close();
        const left = saved.uncovered_incoming_tags || [];
        notify(left.length ? `Rules saved; still uncovered: ${left.join(', ')}.` : 'Transform rules saved.', left.length ? 'warning' : 'success');
        if (location.pathname === '/admin/secure-connections') connectionsPage();
      } catch (err) {
        busy(save, false);
        error.hidden = false;
        error.textContent = describeError(err);
      }
    });
  }

  // ---------------------------------------------------------------- owners

  async function ownersDialog(c) {
    const dlg = openDialog({ title: `Owners · ${c.name}`, testid: 'owners-dialog' });
    let owners;
    try {
      owners = await api('GET', `/api/v1/connections/${encodeURIComponent(c.id)}/owners`);
    } catch (err) {
      dlg.body.append(errorBox(err, 'owners-error'));
      dlg.footer.append(button('Close', { onclick: dlg.close }));
      return;
    }
    const list = h('ul', { class: 'people', testid: 'owners-list' });
    const results = h('ul', { class: 'people results', testid: 'owner-results', 'aria-live': 'polite' });
    const search = h('input', { type: 'search', testid: 'owner-search', placeholder: 'Name or user id', autocomplete: 'off' });
    const error = h('div', { class: 'callout error', testid: 'owners-error', hidden: true, role: 'alert' });

    function renderOwners() {
      clear(list);
      if (!owners.length) list.append(h('li', { class: 'muted' }, 'No owners. Files arriving here will be visible to nobody until you add one.'));
      for (const owner of owners) {
        list.append(h('li', { testid: 'owner', dataset: { id: owner.id } },
          h('span', {}, owner.name, ' ', h('span', { class: 'muted' }, `(${owner.id})`)),
          button('Remove', {
            class: 'btn small ghost', testid: 'owner-remove', 'aria-label': `Remove ${owner.name}`,
            onclick: () => { owners = owners.filter((o) => o.id !== owner.id); renderOwners(); runSearch(); },
          })));
      }
    }

    let timer = null;
    let seq = 0;
    async function runSearch() {
      const text = search.value.trim();
      const mine = ++seq;
      clear(results);
      if (!text) return;
      try {
        const found = await api('GET', `/api/v1/users?search=${encodeURIComponent(text)}`);
        if (mine !== seq) return;
        const candidates = found.filter((u) => !owners.some((o) => o.id === u.id));
        if (!candidates.length) results.append(h('li', { class: 'muted' }, 'No matching users to add.'));
        for (const user of candidates) {
          results.append(h('li', {},
            h('span', {}, user.name, ' ', h('span', { class: 'muted' }, `(${user.id})`)),
            button('Add', {
              class: 'btn small', testid: 'owner-add', dataset: { id: user.id }, 'aria-label': `Add ${user.name}`,
              onclick: () => { owners.push(user); renderOwners(); runSearch(); },
            })));
        }
      } catch (err) {
        if (mine === seq) results.append(h('li', { class: 'field-error' }, describeError(err)));
      }
    }
    search.addEventListener('input', () => {
      clearTimeout(timer);
      timer = setTimeout(runSearch, 200);
    });

    append(dlg.body, [
      h('p', { class: 'muted' }, 'Owners can view every file that arrives through this connection, provided their own infosec level and control tags allow it, and may reshare it as viewers.'),
      h('h3', {}, 'Current owners'), list,
      field('Find users to add', search), results,
      error,
    ]);
    renderOwners();
    const update = button('Update', { class: 'btn primary', testid: 'owners-save' });
    dlg.footer.append(button('Cancel', { testid: 'dlg-cancel', onclick: dlg.close }), update);
    update.addEventListener('click', async () => {
      busy(update, true, 'Updating…');
      try {
        await api('PUT', `/api/v1/connections/${encodeURIComponent(c.id)}/owners`, { user_ids: owners.map((o) => o.id) });
        dlg.close();
        notify(`Owners of “${c.name}” updated.`, 'success');
      } catch (err) {
        busy(update, false);
        error.hidden = false;
        error.textContent = describeError(err);
      }
    });
  }

  // ---------------------------------------------------------------- archive

  function archiveDialog(c) {
    const dlg = openDialog({ title: `Archive ${c.name}?`, testid: 'archive-dialog' });
    const error = h('div', { class: 'callout error', testid: 'archive-error', hidden: true, role: 'alert' });
    append(dlg.body, [
      h('p', {}, `Archiving stops all synchronization of this ${c.kind} connection and hides it from the Active list.`),
      h('p', { class: 'callout warning' }, h('strong', {}, 'This cannot be undone.'), ' An archived connection can be viewed under “All” but never changed or resumed.'),
      error,
    ]);
    const confirm = button('Archive connection', { class: 'btn danger', testid: 'archive-confirm' });
    dlg.footer.append(button('Cancel', { testid: 'dlg-cancel', onclick: dlg.close }), confirm);
    confirm.addEventListener('click', async () => {
      busy(confirm, true, 'Archiving…');
      try {
        await api('POST', `/api/v1/connections/${encodeURIComponent(c.id)}/archive`, { confirm: true });
        dlg.close();
        notify(`“${c.name}” archived.`, 'success');
        if (location.pathname === '/admin/secure-connections') connectionsPage();
      } catch (err) {
        busy(confirm, false);
        error.hidden = false;
        error.textContent = describeError(err);
      }
    });
  }

  // ---------------------------------------------------------------- sync status page

  async function syncStatusPage(kind, id) {
    const { main, gen } = startPage('Sync status');
    const params = new URLSearchParams(location.search);
    const filter = params.get('filter') === 'with_updates' ? 'with_updates' : 'all';
    const page = Math.max(1, parseInt(params.get('page') || '1', 10) || 1);
    const setParams = (changes) => {
      const next = new URLSearchParams(location.search);
      for (const [k, v] of Object.entries(changes)) {
        if (v === null) next.delete(k);
        else next.set(k, v);
      }
      const s = next.toString();
      history.replaceState(null, '', location.pathname + (s ? `?${s}` : ''));
      syncStatusPage(kind, id);
    };

    const back = h('a', { href: `/admin/secure-connections${kind === 'receiving' ? '?tab=receiving' : ''}`, 'data-nav': true, testid: 'back-to-connections' }, '← Secure Connections');
    const title = h('h1', { testid: 'sync-title' }, 'Sync status');
    const subtitle = h('p', { class: 'lead' });
    const listBox = h('div', { class: 'table-wrap', testid: 'sync-events-box' }, h('p', { class: 'muted' }, 'Loading sync events…'));
    const toggle = (value, label) => h('button', {
      type: 'button', class: 'seg', testid: value === 'all' ? 'sync-filter-all' : 'sync-filter-updates', 'aria-pressed': String(filter === value),
      onclick: () => setParams({ filter: value === 'all' ? null : value, page: null }),
    }, label);
    const refresh = button('Refresh', { class: 'btn small', testid: 'sync-refresh', onclick: () => syncStatusPage(kind, id) });
    const syncState = h('span', { class: 'sync-state muted', testid: 'sync-state' });
    if (state.syncResults[id]) {
      syncState.textContent = state.syncResults[id].text;
      syncState.dataset.state = state.syncResults[id].state;
    }
    const syncBtn = button('Sync now', { class: 'btn small', testid: 'sync-now' });
    append(main, [
      h('nav', { class: 'crumbs', 'aria-label': 'Breadcrumb' }, back),
      h('div', { class: 'page-head' }, h('div', {}, title, subtitle)),
      h('div', { class: 'tabbar' },
        h('div', { class: 'inline' }, refresh, syncBtn, syncState),
        h('div', { class: 'segmented', role: 'group', 'aria-label': 'Which sync events to show' }, toggle('all', 'All'), toggle('with_updates', 'With updates'))),
      listBox,
    ]);

    let connection;
    let events;
    try {
      [connection, events] = await Promise.all([
        api('GET', `/api/v1/connections/${encodeURIComponent(id)}`),
        api('GET', `/api/v1/connections/${encodeURIComponent(id)}/sync-events?filter=${filter}&page=${page}&per_page=${PER_PAGE}`),
      ]);
    } catch (err) {
      if (stale(gen)) return;
      if (err instanceof ApiError && (err.status === 401 || err.status === 403)) {
        clear(main);
        pageError(main, err);
      } else {
        clear(listBox).append(errorBox(err, 'page-error'));
      }
      return;
    }
    if (stale(gen)) return;
    document.title = `Sync status · ${connection.name} · Airlock`;
    clear(title).append(healthIcon(connection.health || 'none'), ' ', `Sync status · ${connection.name}`);
    clear(subtitle).append(`${kindLabel(connection.kind)} connection · Shared ID `, h('code', {}, connection.shared_id), ` · ${storeLabel(connection.kind)} ${connection.store}`,
      connection.archived ? ' · archived' : '');
    syncBtn.disabled = !!connection.archived;
    syncBtn.addEventListener('click', async () => {
      await syncNow(connection, syncBtn, syncState);
      if (!stale(gen)) syncStatusPage(kind, id);
    });

    clear(listBox);
    if (!events.events.length) {
      listBox.append(h('div', { class: 'empty', testid: 'sync-empty' },
        h('p', {}, filter === 'all' ? 'No sync has run for this connection yet.' : 'No sync events changed any file.')));
    } else {
      const body = h('tbody', {});
      for (const event of events.events) appendEventRows(body, event);
      listBox.append(h('table', { class: 'grid events', testid: 'sync-events' },
        h('caption', { class: 'visually-hidden' }, 'Sync events, newest first'),
        h('thead', {}, h('tr', {},
          h('th', { scope: 'col' }, h('span', { class: 'visually-hidden' }, 'Expand')),
          h('th', { scope: 'col' }, 'Status'),
          h('th', { scope: 'col' }, 'Updated'),
          h('th', { scope: 'col' }, 'Message'),
          h('th', { scope: 'col' }, 'Started'),
          h('th', { scope: 'col' }, 'Finished'))),
        body));
    }
    listBox.append(h('div', { class: 'pager', testid: 'pager' },
      button('← Newer', { class: 'btn small', testid: 'page-prev', disabled: page <= 1, onclick: () => setParams({ page: page - 1 > 1 ? String(page - 1) : null }) }),
      h('span', { class: 'muted', testid: 'page-number' }, `Page ${page}`),
      button('Older →', { class: 'btn small', testid: 'page-next', disabled: !events.has_more, onclick: () => setParams({ page: String(page + 1) }) })));
  }

  function appendEventRows(body, event) {
    const detailId = uid('detail');
    const chevron = h('button', {
      type: 'button', class: 'icon-btn chevron', testid: 'sync-expand', 'aria-expanded': 'false', 'aria-controls': detailId,
      'aria-label': `Show the ${plural(event.resources.length, 'resource', 'resources')} of this sync`,
    }, h('span', { class: 'chevron-glyph', 'aria-hidden': 'true' }, '▸'));
    const message = event.message || '';
    const truncated = message.length > PREVIEW_LEN;
    const preview = truncated ? `${message.slice(0, PREVIEW_LEN).trimEnd()}…` : message;
    const messageEl = truncated
      ? h('button', {
        type: 'button', class: 'link message-preview', testid: 'sync-message', title: 'Show the full message',
        onclick: (e) => { e.stopPropagation(); showMessageDialog('Sync message', message); },
      }, preview)
      : h('span', { class: 'message-preview', testid: 'sync-message' }, preview || h('span', { class: 'muted' }, '—'));
    const row = h('tr', { class: 'event-row', testid: 'sync-event', dataset: { syncId: event.sync_id, status: event.status, updated: String(event.updated) } },
      h('td', {}, chevron),
      h('td', {}, statusBadge(event.status, 'sync-status')),
      h('td', { testid: 'sync-updated', class: 'num' }, String(event.updated)),
      h('td', { class: 'msg-cell' }, messageEl),
      h('td', { testid: 'sync-started' }, fmtTime(event.started_at)),
      h('td', {}, event.finished_at ? fmtTime(event.finished_at) : h('span', { class: 'muted' }, 'running')));
    const detail = h('tr', { class: 'event-detail', id: detailId, hidden: true, testid: 'sync-detail' },
      h('td', { colspan: '6' }, resourceTable(event)));
    const toggle = () => {
      const open = detail.hidden;
      detail.hidden = !open;
      chevron.setAttribute('aria-expanded', String(open));
      chevron.firstElementChild.textContent = open ? '▾' : '▸';
      row.classList.toggle('open', open);
    };
    row.addEventListener('click', (e) => {
      if (e.target.closest('button') && e.target !== chevron) return;
      toggle();
    });
    chevron.addEventListener('click', (e) => { e.stopPropagation(); toggle(); });
    body.append(row, detail);
  }

  function resourceTable(event) {
    if (!event.resources.length) return h('p', { class: 'muted' }, 'No per-resource rows in this sync.');
    const rows = event.resources.map((r) => h('tr', { testid: 'sync-resource', dataset: { name: r.name, outcome: r.outcome, resourceId: r.resource_id } },
      h('td', {}, outcomeBadge(r.outcome)),
      h('td', {}, h('button', {
        type: 'button', class: 'link mono', testid: 'resource-id', title: 'Copy the resource id',
        onclick: async (e) => {
          e.stopPropagation();
          const ok = await copyText(r.resource_id);
          notify(ok ? `Copied resource id ${r.resource_id}` : 'Copying failed; select the id by hand.', ok ? 'success' : 'warning');
        },
      }, r.resource_id)),
      h('td', { testid: 'resource-name' }, r.name),
      h('td', { class: 'msg-cell' }, r.message || h('span', { class: 'muted' }, '—'))));
    return h('table', { class: 'grid inner', testid: 'sync-resources' },
      h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Status'), h('th', { scope: 'col' }, 'Resource ID'), h('th', { scope: 'col' }, 'Name'), h('th', { scope: 'col' }, 'Message'))),
      h('tbody', {}, rows));
  }

  // ---------------------------------------------------------------- files page

  async function filesPage() {
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
    clear(listBox).append(filesTable(files));
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
        const listBox = document.querySelector('[data-testid="files"]');
        const files = await api('GET', '/api/v1/files');
        if (listBox) clear(listBox).append(filesTable(files));
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

  function filesTable(files) {
    if (!files.length) return h('div', { class: 'empty', testid: 'files-empty' }, h('p', {}, 'No files yet.'));
    const sorted = files.slice().sort((a, b) => b.created_at - a.created_at);
    const rows = sorted.map((f) => {
      const received = !!f.origin_connection_id;
      return h('tr', { testid: 'file-row', dataset: { id: f.id, name: f.name } },
        h('td', { testid: 'file-name' }, f.name),
        h('td', {}, f.level ? f.level.name : '—'),
        h('td', {}, (f.tags || []).length ? h('span', { class: 'tags' }, f.tags.map((t) => h('span', { class: 'tag' }, t))) : h('span', { class: 'muted' }, 'None')),
        h('td', { class: 'num' }, fmtSize(f.size)),
        h('td', {}, fmtTime(f.created_at)),
        h('td', {}, received ? 'Received from a partner' : 'Uploaded here'),
        h('td', {}, button('Share…', {
          class: 'btn small', testid: 'file-share', disabled: received,
          title: received ? 'Received files cannot be shared with another secure connection.' : 'Share with a partner organization',
          onclick: () => shareDialog(f),
        })));
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

  // ---------------------------------------------------------------- start

  document.addEventListener('click', (event) => {
    const link = event.target.closest('a[data-nav]');
    if (!link || event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
    event.preventDefault();
    navigate(link.getAttribute('href'));
  });
  window.addEventListener('popstate', route);
  window.addEventListener('hashchange', () => {
    if (adoptTokenFromFragment()) {
      renderSession();
      route();
    }
  });
  document.addEventListener('keydown', (event) => {
    if (event.key === 'Escape') closeMenus();
  });

  adoptTokenFromFragment();
  renderSession();
  route();
}());
