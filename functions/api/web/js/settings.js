// The Settings page: who the platform thinks you are, your clearance, and Application
// Settings > Experimental Features > Secure Connections, which each user turns on for themselves.
import { api, describeError } from './api.js';
import { append, checkbox, h, notify } from './dom.js';
import { stale, startPage } from './router.js';
import { pageError, setOwnFeature } from './session.js';

function clearanceText(me) {
  const c = me.clearance || {};
  const level = c.level ? c.level.name : 'no level';
  return (c.tags || []).length ? `${level} with ${c.tags.join(', ')}` : `${level}, no control tags`;
}

export async function settingsPage() {
  const { main, gen } = startPage('Settings');
  const account = h('section', { class: 'card', testid: 'account' }, h('p', { class: 'muted' }, 'Loading…'));
  const features = h('section', { class: 'card', testid: 'features' });
  append(main, [
    h('div', { class: 'page-head' }, h('div', {}, h('h1', {}, 'Settings'),
      h('p', { class: 'lead' }, 'Your account on this platform and the experimental features you have turned on.'))),
    account,
    features,
  ]);
  let me;
  try {
    me = await api('GET', '/api/v1/me');
  } catch (err) {
    if (stale(gen)) return;
    main.textContent = '';
    pageError(main, err);
    return;
  }
  if (stale(gen)) return;
  account.textContent = '';
  append(account, [
    h('h2', {}, 'Account'),
    h('dl', { class: 'facts' },
      h('dt', {}, 'Name'), h('dd', { testid: 'me-name' }, me.name),
      h('dt', {}, 'User ID'), h('dd', { class: 'mono', testid: 'me-id' }, me.id),
      h('dt', {}, 'Email'), h('dd', {}, me.email || h('span', { class: 'muted' }, '—')),
      h('dt', {}, 'Roles'), h('dd', { testid: 'me-roles' }, (me.roles || []).length ? me.roles.join(', ') : h('span', { class: 'muted' }, 'none')),
      h('dt', {}, 'Clearance'), h('dd', { testid: 'me-clearance' }, clearanceText(me))),
    h('p', { class: 'hint' }, 'Your clearance is set by a platform administrator.'),
  ]);

  const toggle = checkbox('Secure Connections', { testid: 'feature-secure-connections', checked: !!me.secure_connections });
  const status = h('p', { class: 'muted', testid: 'feature-status', role: 'status', 'aria-live': 'polite' });
  const describe = (on) => {
    status.className = 'muted';
    status.textContent = on ? 'On: the Secure Connections and Platform pages are open to you (administrators only).' : 'Off.';
  };
  describe(!!me.secure_connections);
  toggle.input.addEventListener('change', async () => {
    const wanted = toggle.input.checked;
    toggle.input.disabled = true;
    try {
      const next = await setOwnFeature(wanted);
      describe(!!next.secure_connections);
      notify(`Secure Connections is ${next.secure_connections ? 'enabled' : 'disabled'} for you.`, 'success');
    } catch (err) {
      toggle.input.checked = !wanted;
      status.className = 'field-error';
      status.textContent = describeError(err);
    } finally {
      toggle.input.disabled = false;
    }
  });
  append(features, [
    h('h2', {}, 'Experimental Features'),
    h('p', { class: 'muted' }, 'Secure Connections is a beta preview: exchanging files with partner organizations over authenticated, encrypted channels. Turn it on to use the administration pages.'),
    toggle.el,
    status,
  ]);
}
