// The Add, Edit and Archive dialogs of the Secure Connections page.
import { api, describeError, errorBox, loadPlatform } from './api.js';
import { connectionsPage, setConnectionsQuery } from './connections.js';
import { append, busy, button, checkbox, clear, copyButton, field, fieldError, h, kindLabel, notify, openDialog, select, setFieldError, storeLabel, uid } from './dom.js';
import { MIN_SECRET_LEN, secretChoice } from './secret-choice.js';

const SHARED_ID_PATTERN = /^[A-Za-z0-9._-]+$/;

function storeOptions(platform, kind, current) {
  const stores = platform && platform.stores ? platform.stores : [];
  const options = [{ value: '', label: `Choose the ${storeLabel(kind).toLowerCase()}…`, disabled: true }];
  for (const s of stores) options.push({ value: s, label: s });
  if (current && !stores.includes(current)) options.push({ value: current, label: current });
  return options;
}

function levelOptions(platform) {
  const options = [{ value: '', label: 'No level (nothing with a level passes)' }];
  for (const level of (platform && platform.levels) || []) options.push({ value: level.name, label: `${level.name} (${level.order})` });
  return options;
}

function tagPicker(platform, selected, testPrefix) {
  const tags = (platform && platform.control_tags) || [];
  const wrap = h('fieldset', { class: 'tag-picker', testid: `${testPrefix}-tags` }, h('legend', {}, 'Permitted Control Tags'));
  const boxes = [];
  if (!tags.length) wrap.append(h('p', { class: 'muted' }, 'This platform has no active control tags.'));
  for (const tag of tags) {
    const cb = checkbox(tag, { value: tag, checked: selected.includes(tag), testid: `${testPrefix}-tag-${tag}` });
    boxes.push(cb.input);
    wrap.append(cb.el);
  }
  wrap.append(h('p', { class: 'hint' }, 'Only files whose every tag is permitted here can flow through this connection.'));
  return { el: wrap, value: () => boxes.filter((b) => b.checked).map((b) => b.value) };
}

function storeWarning(testid) {
  return h('div', { class: 'callout warning', testid, hidden: true, role: 'status' });
}

function otherUsers(list, store, selfId) {
  return list.filter((c) => !c.archived && c.store === store && c.id !== selfId).map((c) => c.name);
}

export async function addConnectionDialog(kind) {
  const sending = kind === 'sending';
  const dlg = openDialog({ title: `Add ${kindLabel(kind)} Connection`, testid: 'connection-dialog' });
  dlg.body.append(h('p', { class: 'muted' }, 'Loading…'));
  let platform;
  let existing;
  try {
    [platform, existing] = await Promise.all([
      loadPlatform(),
      api('GET', `/api/v1/connections?kind=${kind}&include_archived=false`),
    ]);
  } catch (err) {
    clear(dlg.body).append(errorBox(err, 'dlg-error'));
    dlg.footer.append(button('Close', { onclick: dlg.close }));
    return;
  }
  clear(dlg.body);

  const name = h('input', { type: 'text', testid: 'dlg-name', autocomplete: 'off', required: true, maxlength: 200 });
  const description = h('textarea', { testid: 'dlg-description', rows: 2 });
  const store = select(storeOptions(platform, kind), { testid: 'dlg-store', required: true });
  store.value = '';
  const warning = storeWarning('store-warning');
  store.addEventListener('change', () => {
    const users = otherUsers(existing, store.value, null);
    warning.textContent = users.length
      ? `${store.value} is already the ${storeLabel(kind).toLowerCase()} of another ${kind} connection: ${users.join(', ')}. Sharing one store between ${kind} connections is allowed, but make sure it is intended.`
      : '';
    warning.hidden = !users.length;
  });
  const sharedId = h('input', { type: 'text', testid: 'dlg-shared-id', autocomplete: 'off', spellcheck: 'false', required: true });
  const sharedIdError = fieldError('err-shared-id');
  sharedId.addEventListener('input', () => {
    const v = sharedId.value.trim();
    setFieldError(sharedIdError, v && !SHARED_ID_PATTERN.test(v) ? 'Use only letters, digits, “.”, “-” and “_” (no spaces).' : '');
  });
  // A sending secret is generated unless the admin chooses to type one; a receiving one is
  // the partner's, pasted as given.
  const choice = sending
    ? secretChoice('dlg', { labels: { legend: 'Shared Secret', secret: 'Shared Secret', confirm: 'Confirm Shared Secret' } })
    : null;
  const secret = h('input', { type: 'password', testid: 'dlg-secret', autocomplete: 'new-password', required: true });
  const secretError = fieldError('err-secret');
  const nameError = fieldError('err-name');
  const storeError = fieldError('err-store');
  const infosec = platform && platform.infosec_enabled;
  const level = select(levelOptions(platform), { testid: 'dlg-level' });
  const tags = tagPicker(platform, [], 'dlg');
  const certify = checkbox('I confirm that this connection will share data with an external organization.', { testid: 'dlg-certify' });
  const certifyError = fieldError('err-certify');
  const formError = h('div', { class: 'callout error', testid: 'dlg-error', hidden: true, role: 'alert' });

  const form = h('form', { class: 'form', novalidate: true, id: uid('form') },
    field('Name', name, { error: nameError }),
    field('Description (optional)', description),
    field(storeLabel(kind), store, {
      hint: sending ? 'The object store this connection writes to for the partner.' : 'The object store where the partner’s data arrives.',
      error: storeError,
    }),
    warning,
    field('Shared ID', sharedId, {
      hint: sending
        ? 'A short name for the channel: letters, digits, “.”, “-” and “_”. A random suffix is added when you create it.'
        : 'Exactly as the sending partner gave it to you, suffix included.',
      error: sharedIdError,
    }),
    sending ? choice.el : field('Shared Secret (from the partner)', secret, { hint: 'As the sending partner gave it to you.' }),
    secretError,
    sending && infosec ? field('Permitted Infosec Level', level, { hint: 'The highest classification allowed through this connection.' }) : null,
    sending ? tags.el : null,
    sending ? h('div', { class: 'certify' }, certify.el, certifyError) : null,
    formError);
  dlg.body.append(form);

  const create = h('button', { type: 'submit', class: 'btn primary', testid: 'dlg-submit', form: form.id }, 'Create');
  dlg.footer.append(button('Cancel', { testid: 'dlg-cancel', onclick: dlg.close }), create);
  name.focus();

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    let ok = true;
    const check = (el, cond, text) => {
      setFieldError(el, cond ? '' : text);
      if (!cond) ok = false;
    };
    const sid = sharedId.value.trim();
    check(nameError, name.value.trim() !== '', 'Enter a name.');
    check(storeError, store.value !== '', `Choose the ${storeLabel(kind).toLowerCase()}.`);
    check(sharedIdError, sid !== '' && SHARED_ID_PATTERN.test(sid), sid === '' ? 'Enter a shared ID.' : 'Use only letters, digits, “.”, “-” and “_” (no spaces).');
    const secretProblem = sending ? choice.problem()
      : (secret.value.length < MIN_SECRET_LEN ? `The secret needs at least ${MIN_SECRET_LEN} characters.` : '');
    check(secretError, !secretProblem, secretProblem);
    if (sending) check(certifyError, certify.input.checked, 'Tick the certification to create a sending connection.');
    formError.hidden = ok;
    formError.textContent = ok ? '' : 'Please correct the highlighted fields.';
    if (!ok) return;

    const payload = sending
      ? {
        name: name.value.trim(), description: description.value, outbox: store.value, shared_id: sid,
        // Left out, the secret is generated by the server and shown once on the next screen.
        ...(choice.generated() ? {} : choice.typed()),
        permitted_level: infosec && level.value ? level.value : null, permitted_tags: tags.value(), certified: certify.input.checked,
      }
      : { name: name.value.trim(), description: description.value, inbox: store.value, shared_id: sid, secret: secret.value };
    busy(create, true, 'Creating…');
    try {
      const created = await api('POST', `/api/v1/connections/${kind}`, payload);
      secret.value = '';
      if (choice) choice.forget();
      setConnectionsQuery({ kind });
      if (sending) {
        credentialsScreen(dlg, created);
      } else {
        dlg.close();
        notify(`Receiving connection “${created.connection.name}” created. You are its first owner.`, 'success');
      }
      if (location.pathname === '/admin/secure-connections') connectionsPage();
    } catch (err) {
      busy(create, false);
      formError.hidden = false;
      formError.textContent = describeError(err);
    }
  });
}

function credentialsScreen(dlg, created, { title, intro } = {}) {
  const creds = created.credentials;
  dlg.setTitle(title || 'Connection created');
  dlg.dialog.dataset.testid = 'credentials-dialog';
  clear(dlg.body);
  clear(dlg.footer);
  const secretText = h('code', { class: 'secret masked', testid: 'cred-secret', dataset: { masked: 'true' } }, '•'.repeat(Math.min(creds.shared_secret.length, 24)));
  const reveal = button('Show', { class: 'btn small ghost', testid: 'cred-reveal', 'aria-pressed': 'false' });
  reveal.addEventListener('click', () => {
    const masked = secretText.dataset.masked === 'true';
    secretText.textContent = masked ? creds.shared_secret : '•'.repeat(Math.min(creds.shared_secret.length, 24));
    secretText.dataset.masked = String(!masked);
    secretText.classList.toggle('masked', !masked);
    reveal.textContent = masked ? 'Hide' : 'Show';
    reveal.setAttribute('aria-pressed', String(masked));
  });
  append(dlg.body, [
    h('p', {}, intro || `“${created.connection.name}” is ready. Give these two values to the partner so they can set up the matching receiving connection.`),
    h('div', { class: 'callout warning', role: 'note' }, 'This is the only time the secret is shown. Copy it now and pass it on through a safe channel.'),
    h('dl', { class: 'credentials' },
      h('dt', {}, 'Shared ID'),
      h('dd', {}, h('code', { testid: 'cred-shared-id' }, creds.shared_id), copyButton(() => creds.shared_id, 'Copy', 'cred-copy-shared-id')),
      h('dt', {}, 'Shared Secret'),
      h('dd', {}, secretText, reveal, copyButton(() => creds.shared_secret, 'Copy', 'cred-copy-secret'))),
  ]);
  dlg.footer.append(button('Done', {
    class: 'btn primary', testid: 'cred-done',
    onclick: () => {
      creds.shared_secret = '';
      dlg.close();
    },
  }));
  dlg.dialog.addEventListener('close', () => { creds.shared_secret = ''; });
}

export async function editConnectionDialog(c) {
  const sending = c.kind === 'sending';
  const dlg = openDialog({ title: `Edit ${c.name}`, testid: 'edit-dialog' });
  let platform;
  let existing;
  let fresh;
  try {
    [platform, existing, fresh] = await Promise.all([
      loadPlatform(),
      api('GET', `/api/v1/connections?kind=${c.kind}&include_archived=false`),
      api('GET', `/api/v1/connections/${encodeURIComponent(c.id)}`),
    ]);
  } catch (err) {
    dlg.body.append(errorBox(err, 'dlg-error'));
    dlg.footer.append(button('Close', { onclick: dlg.close }));
    return;
  }
  const infosec = platform && platform.infosec_enabled;
  const name = h('input', { type: 'text', testid: 'edit-name', value: fresh.name, required: true });
  const description = h('textarea', { testid: 'edit-description', rows: 2 });
  description.value = fresh.description || '';
  const store = select(storeOptions(platform, c.kind, fresh.store), { testid: 'edit-store' });
  store.value = fresh.store;
  const storeBox = h('div', { class: 'callout warning', testid: 'edit-store-warning', hidden: true });
  const storeConfirm = checkbox('I understand: the new store is used from the next sync on, and data already synced stays where it is.', { testid: 'edit-store-confirm' });
  const storeNote = h('p', { class: 'warn-text' });
  storeBox.append(storeNote, storeConfirm.el);
  const sharedInfo = h('div', { class: 'callout', testid: 'edit-store-shared', hidden: !(fresh.store_also_used_by || []).length },
    `Also used by: ${(fresh.store_also_used_by || []).join(', ')}`);
  store.addEventListener('change', () => {
    const changed = store.value !== fresh.store;
    storeBox.hidden = !changed;
    storeConfirm.input.checked = false;
    const users = otherUsers(existing, store.value, fresh.id);
    storeNote.textContent = `You are changing the ${storeLabel(c.kind).toLowerCase()} from ${fresh.store} to ${store.value}.`
      + (users.length ? ` ${store.value} is already used by: ${users.join(', ')}.` : '');
    sharedInfo.hidden = true;
  });

  // Staged secret
  // A new sending secret is generated unless typed; a receiving one is the partner's new one.
  const choice = sending
    ? secretChoice('edit', { labels: { legend: 'New Shared Secret (applied when you save)', secret: 'New Shared Secret', confirm: 'Confirm New Shared Secret' } })
    : null;
  const secret = h('input', { type: 'password', testid: 'edit-secret', autocomplete: 'new-password' });
  const secretBox = h('div', { class: 'staged', hidden: true, testid: 'edit-secret-box' },
    sending ? choice.el : field('New Shared Secret (from the partner)', secret, { hint: `At least ${MIN_SECRET_LEN} characters. Applied only when you save.` }),
    h('p', { class: 'hint' }, sending
      ? 'Everything already published is sent again, encrypted under the new secret; the partner must enter it too.'
      : 'Manifests made with the old secret are refused from then on.'));
  const secretToggle = button(sending ? 'Reset Secret' : 'Update Secret', { class: 'btn small', testid: 'edit-secret-toggle', 'aria-expanded': 'false' });
  secretToggle.addEventListener('click', () => {
    const open = secretBox.hidden;
    secretBox.hidden = !open;
    secretToggle.setAttribute('aria-expanded', String(open));
    secretToggle.textContent = open ? 'Keep current secret' : (sending ? 'Reset Secret' : 'Update Secret');
    if (!open) { secret.value = ''; if (choice) choice.forget(); } else if (!sending) secret.focus();
  });

  const level = select(levelOptions(platform), { testid: 'edit-level' });
  level.value = fresh.permitted_level ? fresh.permitted_level.name : '';
  const tags = tagPicker(platform, fresh.permitted_tags || [], 'edit');
  const error = h('div', { class: 'callout error', testid: 'dlg-error', hidden: true, role: 'alert' });

  const sharedIdInput = h('input', { type: 'text', readOnly: true, value: fresh.shared_id, testid: 'edit-shared-id', class: 'mono', id: uid('sid') });
  const form = h('form', { class: 'form', novalidate: true, id: uid('form') },
    field('Name', name),
    field('Description', description),
    h('div', { class: 'field' },
      h('label', { for: sharedIdInput.id }, 'Shared ID (cannot be changed)'),
      h('div', { class: 'inline' }, sharedIdInput, copyButton(() => fresh.shared_id, 'Copy', 'edit-copy-shared-id'))),
    field(storeLabel(c.kind), store),
    sharedInfo,
    storeBox,
    h('div', { class: 'field' }, h('span', { class: 'label' }, 'Shared Secret'), h('div', { class: 'inline' }, h('span', { class: 'muted' }, 'Stored encrypted; never shown.'), secretToggle)),
    secretBox,
    sending && infosec ? field('Permitted Infosec Level', level) : null,
    sending ? tags.el : null,
    error);
  dlg.body.append(form);
  const save = h('button', { type: 'submit', class: 'btn primary', testid: 'edit-save', form: form.id }, 'Save');
  dlg.footer.append(button('Cancel', { testid: 'dlg-cancel', onclick: dlg.close }), save);

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const fail = (text) => {
      error.hidden = false;
      error.textContent = text;
    };
    const patch = {};
    if (!name.value.trim()) return fail('The name cannot be empty.');
    if (name.value.trim() !== fresh.name) patch.name = name.value.trim();
    if (description.value !== (fresh.description || '')) patch.description = description.value;
    if (store.value !== fresh.store) {
      if (!storeConfirm.input.checked) return fail('Tick the confirmation to change the store.');
      patch.store = store.value;
      patch.confirm_store_change = true;
    }
    if (!secretBox.hidden && sending) {
      const problem = choice.problem();
      if (problem) return fail(problem);
      Object.assign(patch, choice.generated() ? { generate_secret: true } : choice.typed());
    } else if (!secretBox.hidden) {
      if (secret.value.length < MIN_SECRET_LEN) return fail(`The new secret needs at least ${MIN_SECRET_LEN} characters.`);
      patch.secret = secret.value;
    }
    if (sending) {
      const newLevel = infosec && level.value ? level.value : null;
      const oldLevel = fresh.permitted_level ? fresh.permitted_level.name : null;
      if (infosec && newLevel !== oldLevel) patch.permitted_level = newLevel;
      const newTags = tags.value().slice().sort();
      const oldTags = (fresh.permitted_tags || []).slice().sort();
      if (newTags.join('\n') !== oldTags.join('\n')) patch.permitted_tags = newTags;
    }
    if (!Object.keys(patch).length) {
      dlg.close();
      return undefined;
    }
    busy(save, true, 'Saving…');
    try {
      const saved = await api('PATCH', `/api/v1/connections/${encodeURIComponent(c.id)}`, patch);
      if (choice) choice.forget();
      if (saved && saved.credentials) {
        // The generated secret, shown this once like at creation.
        const { credentials, ...connection } = saved;
        credentialsScreen(dlg, { connection, credentials }, {
          title: 'Secret reset',
          intro: `“${connection.name}” now uses a new secret. Give it to the partner so they can update their receiving connection; until they do, their syncs fail.`,
        });
      } else {
        dlg.close();
        notify(`Saved “${patch.name || fresh.name}”.`, 'success');
      }
      if (location.pathname === '/admin/secure-connections') connectionsPage();
    } catch (err) {
      busy(save, false);
      fail(describeError(err));
    }
    return undefined;
  });
}

export function archiveDialog(c) {
  const dlg = openDialog({ title: `Archive ${c.name}?`, testid: 'archive-dialog' });
  const error = h('div', { class: 'callout error', testid: 'archive-error', hidden: true, role: 'alert' });
  append(dlg.body, [
    h('p', {}, `Archiving stops all synchronization of this ${c.kind} connection and hides it from the Active list.`),
    h('p', { class: 'callout warning' }, h('strong', {}, 'This cannot be undone.'), ' An archived connection can be viewed under “All” but never changed or resumed.'),
    error,
  ]);
  const confirm = button('Archive connection', { class: 'btn danger', testid: 'archive-confirm' });
  dlg.footer.append(button('Cancel', { testid: 'dlg-cancel', onclick: dlg.close }), confirm);
  confirm.addEventListener('click', async () => {
    busy(confirm, true, 'Archiving…');
    try {
      await api('POST', `/api/v1/connections/${encodeURIComponent(c.id)}/archive`, { confirm: true });
      dlg.close();
      notify(`“${c.name}” archived.`, 'success');
      if (location.pathname === '/admin/secure-connections') connectionsPage();
    } catch (err) {
      busy(confirm, false);
      error.hidden = false;
      error.textContent = describeError(err);
    }
  });
}
