// The access token (kept in this tab only) and the calls to /api/v1 made with it.
import { h } from './dom.js';
import { state } from './state.js';

export const TOKEN_KEY = 'airlock.token';

export function adoptTokenFromFragment() {
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

export function token() {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function tokenClaims() {
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

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

export async function api(method, path, body) {
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

export function describeError(err) {
  if (!(err instanceof ApiError)) return String(err && err.message ? err.message : err);
  if (err.status === 401) return `Your sign-in was not accepted (401): ${err.message}`;
  if (err.status === 403) return `You do not have permission for this (403): ${err.message}`;
  if (err.status === 0) return `Network problem: ${err.message}`;
  return `${err.message} (HTTP ${err.status})`;
}

export function errorBox(err, testid) {
  return h('div', { class: 'callout error', role: 'alert', testid: testid || 'error', dataset: { status: err && err.status !== undefined ? String(err.status) : '' } },
    describeError(err));
}

export async function loadPlatform() {
  if (state.platform !== undefined) return state.platform;
  try {
    state.platform = await api('GET', '/api/v1/platform');
  } catch (e) {
    if (e instanceof ApiError && (e.status === 403 || e.status === 404)) state.platform = null;
    else throw e;
  }
  return state.platform;
}
