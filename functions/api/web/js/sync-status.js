// The Sync Status page of one connection: its sync events, newest first.
import { ApiError, api, errorBox } from './api.js';
import { syncNow } from './connections.js';
import { append, button, clear, copyText, fmtSize, fmtTime, h, kindLabel, notify, plural, showMessageDialog, storeLabel, uid } from './dom.js';
import { stale, startPage } from './router.js';
import { pageError } from './session.js';
import { state } from './state.js';
import { healthIcon, outcomeBadge, statusBadge } from './status.js';

const PREVIEW_LEN = 60;
const PER_PAGE = 20;
const ROWS_PER_PAGE = 200;
// While a sync runs, the page reloads its list this often (a poll reads counters only).
const RUNNING_REFRESH_MS = 3000;

export async function syncStatusPage(kind, id) {
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
    for (const event of events.events) appendEventRows(body, event, id);
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
  if (events.events.some((e) => e.status === 'running')) {
    setTimeout(() => { if (!stale(gen) && !document.querySelector('.event-detail:not([hidden])')) syncStatusPage(kind, id); }, RUNNING_REFRESH_MS);
  }
}

// "1,200 of 10,000 files · 4.7 MiB of 39 MiB · 850 files/s", with a bar.
function progressLine(p) {
  const pct = p.files_total ? Math.min(100, Math.round((p.files_done / p.files_total) * 100)) : 0;
  const n = (x) => x.toLocaleString('en-US');
  const text = `${n(p.files_done)} of ${n(p.files_total)} files · ${fmtSize(p.bytes_done)} of ${fmtSize(p.bytes_total)} · `
    + `${n(Math.round(p.files_per_second))} files/s, ${fmtSize(Math.round(p.bytes_per_second))}/s`;
  const fill = h('span', {});
  // Through the style object: the page's content security policy refuses style attributes.
  fill.style.width = `${pct}%`;
  return h('div', { class: 'progress', testid: 'sync-progress', dataset: { done: String(p.files_done), total: String(p.files_total) } },
    h('div', { class: 'progress-bar', role: 'progressbar', 'aria-valuemin': '0', 'aria-valuemax': '100', 'aria-valuenow': String(pct), 'aria-label': 'Files moved' }, fill),
    h('span', { class: 'muted small' }, text));
}

function appendEventRows(body, event, connectionId) {
  const detailId = uid('detail');
  const chevron = h('button', {
    type: 'button', class: 'icon-btn chevron', testid: 'sync-expand', 'aria-expanded': 'false', 'aria-controls': detailId,
    'aria-label': `Show the ${plural(event.rows, 'resource', 'resources')} of this sync`,
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
    h('td', { class: 'msg-cell' }, messageEl, event.progress ? progressLine(event.progress) : null),
    h('td', { testid: 'sync-started' }, fmtTime(event.started_at)),
    h('td', {}, event.finished_at ? fmtTime(event.finished_at) : h('span', { class: 'muted' }, 'running')));
  const detail = h('tr', { class: 'event-detail', id: detailId, hidden: true, testid: 'sync-detail' },
    h('td', { colspan: '6' }, resourceTable(event, connectionId)));
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

function resourceTable(event, connectionId) {
  if (!event.resources.length) return h('p', { class: 'muted' }, 'No per-resource rows in this sync.');
  const tbody = h('tbody', {}, event.resources.map(resourceRow));
  const table = h('table', { class: 'grid inner', testid: 'sync-resources' },
    h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Status'), h('th', { scope: 'col' }, 'Resource ID'), h('th', { scope: 'col' }, 'Name'), h('th', { scope: 'col' }, 'Message'))),
    tbody);
  if (event.rows <= event.resources.length) return table;
  // The history carries the first rows of each sync; the rest come a page at a time.
  let shown = event.resources.length;
  const note = h('span', { class: 'muted small', testid: 'rows-shown' });
  const more = button('Show more', { class: 'btn small', testid: 'rows-more' });
  const update = () => {
    note.textContent = `${shown.toLocaleString('en-US')} of ${event.rows.toLocaleString('en-US')} rows`;
    more.hidden = shown >= event.rows;
  };
  more.addEventListener('click', async (e) => {
    e.stopPropagation();
    more.disabled = true;
    try {
      // Pages of ROWS_PER_PAGE from the start: the first page of the history is 50 rows.
      const page = Math.floor(shown / ROWS_PER_PAGE) + 1;
      const got = await api('GET', `/api/v1/connections/${encodeURIComponent(connectionId)}/sync-events/${encodeURIComponent(event.sync_id)}/rows?page=${page}&per_page=${ROWS_PER_PAGE}`);
      const fresh = got.rows.slice(shown - (page - 1) * ROWS_PER_PAGE);
      tbody.append(...fresh.map(resourceRow));
      shown += fresh.length;
      if (!got.has_more) shown = Math.max(shown, event.rows);
    } catch (err) {
      notify(`Loading more rows failed: ${err.message}`, 'warning');
    } finally {
      more.disabled = false;
      update();
    }
  });
  update();
  return h('div', {}, table, h('div', { class: 'inline rows-more' }, more, note));
}

function resourceRow(r) {
  return h('tr', { testid: 'sync-resource', dataset: { name: r.name, outcome: r.outcome, resourceId: r.resource_id } },
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
    h('td', { class: 'msg-cell' }, r.message || h('span', { class: 'muted' }, '—')));
}
