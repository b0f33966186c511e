// Who is signed in: the session box, the sign-in form and the page-level error.
import { ApiError, TOKEN_KEY, api, describeError, token, tokenClaims } from './api.js';
import { append, busy, button, clear, field, h } from './dom.js';
import { route } from './router.js';
import { state } from './state.js';

function signOut() {
  sessionStorage.removeItem(TOKEN_KEY);
  state.platform = undefined;
  renderSession();
  route();
}

export function renderSession() {
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

export function signInBox(reason) {
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

/** The admin routes refuse an administrator whose Secure Connections flag is off with this. */
export function featureOff(err) {
  return err instanceof ApiError && err.status === 403 && /secure connections is not enabled/i.test(err.message);
}

/** Turns the caller's own Secure Connections flag on or off; the platform view is asked again. */
export async function setOwnFeature(on) {
  const me = await api('PUT', '/api/v1/me/features', { secure_connections: on });
  state.platform = undefined;
  return me;
}

function enableFeatureBox() {
  const error = h('p', { class: 'field-error', testid: 'enable-feature-error', hidden: true, role: 'alert' });
  const enable = button('Enable Secure Connections for me', { class: 'btn primary', testid: 'enable-secure-connections' });
  enable.addEventListener('click', async () => {
    busy(enable, true, 'Enabling…');
    try {
      await setOwnFeature(true);
      route();
    } catch (e) {
      busy(enable, false);
      error.hidden = false;
      error.textContent = describeError(e);
    }
  });
  return h('section', { class: 'card feature-off', testid: 'feature-off' },
    h('h2', {}, 'Turn it on for yourself'),
    h('p', {}, 'Secure Connections is an experimental feature that each administrator enables in ',
      h('a', { href: '/settings', 'data-nav': true, testid: 'feature-settings-link' }, 'Settings › Experimental Features'),
      ', or here:'),
    h('div', { class: 'actions start' }, enable),
    error);
}

export function pageError(main, err) {
  const box = h('div', { class: 'page-error-wrap' });
  const status = err instanceof ApiError ? err.status : null;
  const flag = featureOff(err);
  const title = flag ? 'Secure Connections is not enabled for you' : status === 401 ? 'Sign-in needed' : status === 403 ? 'Access denied' : 'Something went wrong';
  append(box, [
    h('section', { class: 'callout error big', role: 'alert', testid: 'page-error', dataset: { status: status === null ? '' : String(status) } },
      h('h2', {}, title),
      h('p', {}, describeError(err)),
      status === 403 && !flag ? h('p', {}, 'This page needs an administrator token. Ask your platform administrator for access, or sign in with another token.') : null),
  ]);
  if (flag) box.append(enableFeatureBox());
  else if (status === 401 || status === 403) box.append(signInBox('Paste a different access token to try again.'));
  main.append(box);
}
