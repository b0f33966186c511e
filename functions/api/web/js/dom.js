// Building the page: elements, form fields, notices, copying, menus and dialogs.
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === 'class') el.className = value;
    else if (key === 'testid') el.dataset.testid = value;
    else if (key === 'dataset') Object.assign(el.dataset, value);
    else if (key.startsWith('on') && typeof value === 'function') el.addEventListener(key.slice(2), value);
    else if (key === 'value') el.value = value;
    else if (key === 'checked' || key === 'disabled' || key === 'hidden' || key === 'selected' || key === 'required' || key === 'readOnly') el[key] = !!value;
    else if (value === true) el.setAttribute(key, '');
    else el.setAttribute(key, String(value));
  }
  append(el, children);
  return el;
}

export function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

export function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return el;
}

let idCounter = 0;
export function uid(prefix) {
  idCounter += 1;
  return `${prefix}-${idCounter}`;
}

export function field(label, control, { hint, testid, error } = {}) {
  if (!control.id) control.id = uid('f');
  const hintEl = hint ? h('p', { class: 'hint', id: uid('hint') }, hint) : null;
  if (hintEl) control.setAttribute('aria-describedby', hintEl.id);
  return h('div', { class: 'field', testid },
    h('label', { for: control.id }, label),
    control,
    hintEl,
    error || null);
}

export function fieldError(testid) {
  return h('p', { class: 'field-error', testid, hidden: true, role: 'alert' });
}

export function setFieldError(el, text) {
  el.textContent = text || '';
  el.hidden = !text;
}

export function checkbox(label, attrs) {
  const input = h('input', Object.assign({ type: 'checkbox', id: uid('cb') }, attrs));
  return { input, el: h('label', { class: 'check', for: input.id }, input, h('span', {}, label)) };
}

export function select(options, attrs) {
  const el = h('select', attrs || {});
  for (const option of options) {
    el.append(h('option', { value: option.value, disabled: option.disabled }, option.label));
  }
  return el;
}

export function fmtTime(ms) {
  if (ms === null || ms === undefined) return '—';
  const d = new Date(ms);
  return d.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'medium' });
}

export function fmtSize(bytes) {
  if (bytes < 1024) return `${bytes} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 'B';
  for (const u of units) {
    if (value < 1024) break;
    value /= 1024;
    unit = u;
  }
  return `${value.toFixed(value < 10 ? 1 : 0)} ${unit}`;
}

export function plural(n, one, many) {
  return `${n} ${n === 1 ? one : many}`;
}

export function kindLabel(kind) {
  return kind === 'sending' ? 'Sending' : 'Receiving';
}

export function storeLabel(kind) {
  return kind === 'sending' ? 'Outbox' : 'Inbox';
}

export function notify(text, tone) {
  const box = document.querySelector('.notices');
  const note = h('div', { class: `notice ${tone || 'info'}`, testid: 'notice' }, text);
  box.append(note);
  while (box.children.length > 3) box.firstElementChild.remove();
  setTimeout(() => note.remove(), 6000);
}

export async function copyText(text) {
  try {
    if (navigator.clipboard && window.isSecureContext) {
      await navigator.clipboard.writeText(text);
      return true;
    }
  } catch (e) {
    // fall through to the older way
  }
  const area = h('textarea', { class: 'offscreen', 'aria-hidden': 'true', readonly: true });
  area.value = text;
  document.body.append(area);
  area.select();
  let ok = false;
  try {
    ok = document.execCommand('copy');
  } catch (e) {
    ok = false;
  }
  area.remove();
  return ok;
}

export function copyButton(getText, label, testid) {
  const button = h('button', { type: 'button', class: 'btn small ghost', testid }, label || 'Copy');
  button.addEventListener('click', async (event) => {
    event.stopPropagation();
    const ok = await copyText(getText());
    const before = button.textContent;
    button.textContent = ok ? 'Copied' : 'Copy failed';
    button.dataset.copied = ok ? 'yes' : 'no';
    setTimeout(() => { button.textContent = before; }, 1500);
  });
  return button;
}

export function closeMenus(except) {
  for (const menu of document.querySelectorAll('.menu-list:not([hidden])')) {
    if (menu === except) continue;
    menu.hidden = true;
    const button = menu.previousElementSibling;
    if (button) button.setAttribute('aria-expanded', 'false');
  }
}

// Menus sit in scrolling table boxes, which would clip them: they are placed against the
// window instead, below their button or, when the window ends first, above it.
function placeMenu(list, anchor) {
  const at = anchor.getBoundingClientRect();
  list.classList.add('floating');
  list.style.right = `${Math.max(4, document.documentElement.clientWidth - at.right)}px`;
  const below = at.bottom + 4;
  const height = list.offsetHeight;
  list.style.top = `${below + height > window.innerHeight && at.top - 4 - height > 0 ? at.top - 4 - height : below}px`;
}

function placeOpenMenus() {
  for (const list of document.querySelectorAll('.menu-list.floating:not([hidden])')) {
    const anchor = list.previousElementSibling;
    if (anchor) placeMenu(list, anchor);
  }
}
window.addEventListener('scroll', placeOpenMenus, true);
window.addEventListener('resize', placeOpenMenus);

export function actionMenu(items, { disabled, label, testid }) {
  const list = h('ul', { class: 'menu-list', role: 'menu', hidden: true, testid: `${testid}-menu` });
  const button = h('button', {
    type: 'button', class: 'btn small', testid, 'aria-haspopup': 'menu', 'aria-expanded': 'false', disabled, 'aria-label': label,
  }, 'Actions ', h('span', { 'aria-hidden': 'true' }, '▾'));
  for (const item of items) {
    list.append(h('li', { role: 'none' }, h('button', {
      type: 'button', role: 'menuitem', class: item.danger ? 'danger' : '', testid: item.testid,
      onclick: (event) => {
        event.stopPropagation();
        closeMenus();
        item.run();
      },
    }, item.label)));
  }
  button.addEventListener('click', (event) => {
    event.stopPropagation();
    const open = list.hidden;
    closeMenus(list);
    list.hidden = !open;
    button.setAttribute('aria-expanded', String(open));
    if (open) placeMenu(list, button);
    if (open) {
      const first = list.querySelector('button');
      if (first) first.focus();
    }
  });
  list.addEventListener('keydown', (event) => {
    const entries = Array.from(list.querySelectorAll('button'));
    const index = entries.indexOf(document.activeElement);
    if (event.key === 'ArrowDown') { event.preventDefault(); entries[(index + 1) % entries.length].focus(); }
    if (event.key === 'ArrowUp') { event.preventDefault(); entries[(index - 1 + entries.length) % entries.length].focus(); }
    if (event.key === 'Escape') { closeMenus(); button.focus(); }
  });
  return h('div', { class: 'menu' }, button, list);
}

document.addEventListener('click', () => closeMenus());

export function openDialog({ title, testid, wide }) {
  const titleId = uid('dlg-title');
  const body = h('div', { class: 'dialog-body' });
  const footer = h('div', { class: 'dialog-actions' });
  const heading = h('h2', { id: titleId }, title);
  const dialog = h('dialog', { class: `modal${wide ? ' wide' : ''}`, testid, 'aria-labelledby': titleId },
    h('div', { class: 'dialog-head' }, heading,
      h('button', { type: 'button', class: 'icon-btn', 'aria-label': 'Close', testid: 'dialog-close', onclick: () => dialog.close() }, '×')),
    body, footer);
  dialog.addEventListener('close', () => dialog.remove());
  document.body.append(dialog);
  dialog.showModal();
  return {
    dialog, body, footer, heading,
    close: () => dialog.close(),
    setTitle: (text) => { heading.textContent = text; },
  };
}

export function button(label, attrs) {
  return h('button', Object.assign({ type: 'button', class: 'btn' }, attrs || {}), label);
}

export function busy(btn, on, text) {
  if (on) {
    btn.dataset.label = btn.textContent;
    btn.textContent = text || 'Working…';
    btn.disabled = true;
    btn.setAttribute('aria-busy', 'true');
  } else {
    btn.textContent = btn.dataset.label || btn.textContent;
    btn.disabled = false;
    btn.removeAttribute('aria-busy');
  }
}

/** Previous / "1–20 of 57" / Next, for lists the server pages by offset and limit. */
export function pager(prefix, offset, shown, total, size, go) {
  const from = total ? offset + 1 : 0;
  return h('div', { class: 'pager', testid: `${prefix}-pager` },
    button('← Previous', { class: 'btn small', testid: `${prefix}-prev`, disabled: offset <= 0, onclick: () => go(Math.max(0, offset - size)) }),
    h('span', { class: 'muted', testid: `${prefix}-range` }, `${from}–${offset + shown} of ${total}`),
    button('Next →', { class: 'btn small', testid: `${prefix}-next`, disabled: offset + shown >= total, onclick: () => go(offset + size) }));
}

export function showMessageDialog(title, message) {
  const dlg = openDialog({ title, testid: 'message-dialog', wide: true });
  dlg.body.append(h('pre', { class: 'message-full', testid: 'message-full' }, message));
  dlg.footer.append(copyButton(() => message, 'Copy message', 'message-copy'), button('Close', { class: 'btn primary', testid: 'message-close', onclick: dlg.close }));
}
