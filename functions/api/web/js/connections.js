// The Secure Connections page: the sending and receiving tabs, their table and Sync now.
import { ApiError, api, describeError, errorBox, loadPlatform } from './api.js';
import { addConnectionDialog, archiveDialog, editConnectionDialog } from './connection-dialogs.js';
import { actionMenu, append, busy, clear, closeMenus, fmtTime, h, kindLabel, notify, plural, storeLabel } from './dom.js';
import { ownersDialog } from './owners.js';
import { stale, startPage } from './router.js';
import { pageError } from './session.js';
import { state } from './state.js';
import { HEALTH, healthIcon } from './status.js';
import { transformDialog } from './transforms.js';

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

export function setConnectionsQuery(changes) {
  const q = Object.assign(connectionsQuery(), changes);
  const params = new URLSearchParams();
  if (q.kind !== 'sending') params.set('tab', q.kind);
  if (q.all) params.set('show', 'all');
  if (q.sort !== 'name') params.set('sort', q.sort);
  if (q.dir !== 'asc') params.set('dir', q.dir);
  const search = params.toString();
  history.replaceState(null, '', `/admin/secure-connections${search ? `?${search}` : ''}`);
}

export async function connectionsPage() {
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

export async function syncNow(c, btn, stateEl) {
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
