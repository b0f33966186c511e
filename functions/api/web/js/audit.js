// The Audit Log tab of the Platform page: who changed what, before and after, newest first.
import { api, describeError } from './api.js';
import { button, clear, fmtTime, h, pager, showMessageDialog } from './dom.js';

const PAGE_SIZE = 20;

const PREVIEW_LEN = 70;

function compact(value) {
  if (value === null || value === undefined) return '—';
  return typeof value === 'string' ? value : JSON.stringify(value);
}

function preview(value) {
  const text = compact(value);
  return text.length > PREVIEW_LEN ? `${text.slice(0, PREVIEW_LEN)}…` : text;
}

function details(entry) {
  const pretty = (v) => (v === null || v === undefined ? '(nothing)' : JSON.stringify(v, null, 2));
  return `${entry.action} · ${entry.target}\nby ${entry.actor} at ${fmtTime(entry.at)}\n\nBefore:\n${pretty(entry.before)}\n\nAfter:\n${pretty(entry.after)}`;
}

function auditTable(page) {
  if (!page.entries.length) return h('div', { class: 'empty', testid: 'audit-empty' }, h('p', {}, 'Nothing has been changed yet.'));
  const rows = page.entries.map((e) => h('tr', { testid: 'audit-row', dataset: { id: String(e.id), action: e.action, target: e.target || '' } },
    h('td', { class: 'nowrap' }, fmtTime(e.at)),
    h('td', { testid: 'audit-actor', class: 'nowrap' }, e.actor),
    h('td', {}, h('code', { testid: 'audit-action' }, e.action)),
    h('td', { testid: 'audit-target', class: 'mono nowrap' }, e.target || '—'),
    h('td', { class: 'change-cell' },
      h('span', { class: 'muted' }, preview(e.before)), h('span', { class: 'arrow', 'aria-label': 'became' }, ' → '),
      h('span', { testid: 'audit-after' }, preview(e.after))),
    h('td', { class: 'actions-cell' }, button('Details', {
      class: 'btn small ghost', testid: 'audit-details', onclick: () => showMessageDialog('Audit entry', details(e)),
    }))));
  return h('table', { class: 'grid', testid: 'audit-table' },
    h('thead', {}, h('tr', {}, ['When', 'Who', 'Action', 'Target', 'Change'].map((t) => h('th', { scope: 'col' }, t)),
      h('th', { scope: 'col' }, h('span', { class: 'visually-hidden' }, 'Details')))),
    h('tbody', {}, rows));
}

export function auditTab() {
  const list = h('div', { class: 'table-wrap', testid: 'audit' }, h('p', { class: 'muted' }, 'Loading the audit log…'));
  let offset = 0;
  async function load() {
    try {
      const page = await api('GET', `/api/v1/platform/audit?limit=${PAGE_SIZE}&offset=${offset}`);
      clear(list).append(auditTable(page), pager('audit', offset, page.entries.length, page.total, PAGE_SIZE, (next) => { offset = next; load(); }));
    } catch (err) {
      clear(list).append(h('div', { class: 'callout error', testid: 'audit-error', role: 'alert' }, describeError(err)));
    }
  }
  load();
  return h('section', { testid: 'audit-card' },
    h('div', { class: 'toolbar' },
      h('p', { class: 'muted' }, 'Every change to the platform, its users and its connections, and each application of the platform file.'),
      button('Refresh', { class: 'btn small', testid: 'audit-refresh', onclick: load })),
    list);
}
