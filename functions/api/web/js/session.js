// Who is signed in: the session box, the sign-in form and the page-level error.
import { ApiError, TOKEN_KEY, describeError, token, tokenClaims } from './api.js';
import { append, clear, field, h } from './dom.js';
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

export function pageError(main, err) {
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
