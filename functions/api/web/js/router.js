// Client-side routing: which page the address shows. The table itself lives in main.js,
// so the pages can import startPage/stale from here without importing each other.
import { clear } from './dom.js';
import { state } from './state.js';

let handler = () => {};

export function setRouter(fn) {
  handler = fn;
}

export function route() {
  handler();
}

export function navigate(url) {
  history.pushState(null, '', url);
  route();
}

export function startPage(title) {
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

/** True once another page has started since `gen`: a late answer must not draw over it. */
export function stale(gen) {
  return gen !== state.generation;
}
