// Airlock web admin: Secure Connections, sync status, the platform, files and settings.
// Plain browser JavaScript modules, no build step and nothing loaded from elsewhere.
import { adoptTokenFromFragment, token } from './api.js';
import { connectionsPage } from './connections.js';
import { closeMenus, h } from './dom.js';
import { filesPage } from './files.js';
import { platformPage } from './platform.js';
import { navigate, route, setRouter, startPage } from './router.js';
import { renderSession, signInBox } from './session.js';
import { settingsPage } from './settings.js';
import { syncStatusPage } from './sync-status.js';

function show() {
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
  else if (path === '/admin/platform') platformPage();
  else if (path === '/files') filesPage();
  else if (path === '/settings') settingsPage();
  else {
    const { main } = startPage('Not found');
    main.append(h('section', { class: 'callout' }, h('h2', {}, 'Nothing here'),
      h('p', {}, 'Try ', h('a', { href: '/admin/secure-connections', 'data-nav': true }, 'Secure Connections'), ' or ',
        h('a', { href: '/files', 'data-nav': true }, 'Files'), '.')));
  }
}

setRouter(show);

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
