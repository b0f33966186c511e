// Sync health icons and badges, shared by the connections and sync status pages.
import { h } from './dom.js';

export const HEALTH = {
  success: { label: 'Success', text: 'Last sync completed without errors', glyph: '✓' },
  degraded: { label: 'Degraded', text: 'Last sync completed with some errors', glyph: '!' },
  failure: { label: 'Failure', text: 'Last sync failed', glyph: '✕' },
  running: { label: 'Running', text: 'Sync in progress', glyph: '…' },
  none: { label: 'No sync yet', text: 'No sync has run yet', glyph: '–' },
};

export function healthIcon(health) {
  const key = HEALTH[health] ? health : 'none';
  return h('span', { class: `health-icon health-${key}`, 'aria-hidden': 'true' }, HEALTH[key].glyph);
}

export function statusBadge(status, testid) {
  const key = HEALTH[status] ? status : 'none';
  return h('span', { class: `badge health-${key}`, testid, dataset: { status: status || 'none' } }, HEALTH[key].label);
}

const OUTCOMES = {
  updated: 'Updated', unchanged: 'Unchanged', removed: 'Removed', failed: 'Failed',
};

export function outcomeBadge(outcome) {
  return h('span', { class: `badge outcome-${outcome}`, testid: 'resource-outcome', dataset: { outcome } }, OUTCOMES[outcome] || outcome);
}
