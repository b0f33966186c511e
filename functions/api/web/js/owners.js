// The Edit Owners dialog of a receiving connection.
import { api, describeError, errorBox } from './api.js';
import { append, busy, button, clear, field, h, notify, openDialog } from './dom.js';

export async function ownersDialog(c) {
  const dlg = openDialog({ title: `Owners · ${c.name}`, testid: 'owners-dialog' });
  let owners;
  try {
    owners = await api('GET', `/api/v1/connections/${encodeURIComponent(c.id)}/owners`);
  } catch (err) {
    dlg.body.append(errorBox(err, 'owners-error'));
    dlg.footer.append(button('Close', { onclick: dlg.close }));
    return;
  }
  const list = h('ul', { class: 'people', testid: 'owners-list' });
  const results = h('ul', { class: 'people results', testid: 'owner-results', 'aria-live': 'polite' });
  const search = h('input', { type: 'search', testid: 'owner-search', placeholder: 'Name or user id', autocomplete: 'off' });
  const error = h('div', { class: 'callout error', testid: 'owners-error', hidden: true, role: 'alert' });

  function renderOwners() {
    clear(list);
    if (!owners.length) list.append(h('li', { class: 'muted' }, 'No owners. Files arriving here will be visible to nobody until you add one.'));
    for (const owner of owners) {
      list.append(h('li', { testid: 'owner', dataset: { id: owner.id } },
        h('span', {}, owner.name, ' ', h('span', { class: 'muted' }, `(${owner.id})`)),
        button('Remove', {
          class: 'btn small ghost', testid: 'owner-remove', 'aria-label': `Remove ${owner.name}`,
          onclick: () => { owners = owners.filter((o) => o.id !== owner.id); renderOwners(); runSearch(); },
        })));
    }
  }

  let timer = null;
  let seq = 0;
  async function runSearch() {
    const text = search.value.trim();
    const mine = ++seq;
    clear(results);
    if (!text) return;
    try {
      const found = await api('GET', `/api/v1/users?search=${encodeURIComponent(text)}`);
      if (mine !== seq) return;
      const candidates = found.filter((u) => !owners.some((o) => o.id === u.id));
      if (!candidates.length) results.append(h('li', { class: 'muted' }, 'No matching users to add.'));
      for (const user of candidates) {
        results.append(h('li', {},
          h('span', {}, user.name, ' ', h('span', { class: 'muted' }, `(${user.id})`)),
          button('Add', {
            class: 'btn small', testid: 'owner-add', dataset: { id: user.id }, 'aria-label': `Add ${user.name}`,
            onclick: () => { owners.push(user); renderOwners(); runSearch(); },
          })));
      }
    } catch (err) {
      if (mine === seq) results.append(h('li', { class: 'field-error' }, describeError(err)));
    }
  }
  search.addEventListener('input', () => {
    clearTimeout(timer);
    timer = setTimeout(runSearch, 200);
  });

  append(dlg.body, [
    h('p', { class: 'muted' }, 'Owners can view every file that arrives through this connection, provided their own infosec level and control tags allow it, and may reshare it as viewers.'),
    h('h3', {}, 'Current owners'), list,
    field('Find users to add', search), results,
    error,
  ]);
  renderOwners();
  const update = button('Update', { class: 'btn primary', testid: 'owners-save' });
  dlg.footer.append(button('Cancel', { testid: 'dlg-cancel', onclick: dlg.close }), update);
  update.addEventListener('click', async () => {
    busy(update, true, 'Updating…');
    try {
      await api('PUT', `/api/v1/connections/${encodeURIComponent(c.id)}/owners`, { user_ids: owners.map((o) => o.id) });
      dlg.close();
      notify(`Owners of “${c.name}” updated.`, 'success');
    } catch (err) {
      busy(update, false);
      error.hidden = false;
      error.textContent = describeError(err);
    }
  });
}
