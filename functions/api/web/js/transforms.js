// The Transform Config dialog: add, remove and map rules of a connection.
import { api, describeError, errorBox } from './api.js';
import { connectionsPage } from './connections.js';
import { append, busy, button, clear, field, fieldError, h, notify, openDialog, select, setFieldError } from './dom.js';

const RULE_KINDS = {
  add: { label: 'Add control tag', needsPredicate: false, needsValue: true },
  remove: { label: 'Remove control tag', needsPredicate: true, needsValue: false },
  map: { label: 'Map control tag', needsPredicate: true, needsValue: true },
};

export async function transformDialog(c) {
  const dlg = openDialog({ title: `Transform Config · ${c.name}`, testid: 'transform-dialog', wide: true });
  let config;
  try {
    config = await api('GET', `/api/v1/connections/${encodeURIComponent(c.id)}/transforms`);
  } catch (err) {
    dlg.body.append(errorBox(err, 'tf-error'));
    dlg.footer.append(button('Close', { onclick: dlg.close }));
    return;
  }
  const rules = config.rules.map((r) => ({ kind: r.kind, predicate: r.predicate, value: r.value, description: r.description }));
  const predicateChoices = config.predicate_choices || [];
  const valueChoices = config.value_choices || [];
  const receiving = c.kind === 'receiving';

  const list = h('ul', { class: 'rules', testid: 'tf-rules' });
  const uncovered = h('div', { class: 'callout warning', testid: 'tf-uncovered', hidden: true, role: 'status' });
  const error = h('div', { class: 'callout error', testid: 'tf-error', hidden: true, role: 'alert' });

  function uncoveredTags() {
    if (!receiving) return [];
    const covered = new Set(rules.filter((r) => r.kind !== 'add').map((r) => r.predicate));
    // Incoming tags are the predicate choices; the server also tells what its saved rules leave uncovered.
    const incoming = new Set([...predicateChoices, ...(config.uncovered_incoming_tags || [])]);
    return [...incoming].filter((t) => !covered.has(t)).sort();
  }

  function renderRules() {
    clear(list);
    if (!rules.length) list.append(h('li', { class: 'muted empty-rule' }, 'No rules: tags pass through unchanged.'));
    rules.forEach((rule, index) => {
      const what = rule.kind === 'add' ? [h('span', { class: 'tag' }, rule.value)]
        : rule.kind === 'remove' ? [h('span', { class: 'tag' }, rule.predicate)]
          : [h('span', { class: 'tag' }, rule.predicate), h('span', { class: 'arrow', 'aria-label': 'becomes' }, ' → '), h('span', { class: 'tag' }, rule.value)];
      list.append(h('li', { class: 'rule', testid: 'tf-rule', dataset: { kind: rule.kind, predicate: rule.predicate || '', value: rule.value || '' } },
        h('span', { class: `badge rule-${rule.kind}` }, RULE_KINDS[rule.kind] ? RULE_KINDS[rule.kind].label : rule.kind),
        h('span', { class: 'rule-what' }, what),
        h('span', { class: 'rule-desc' }, rule.description),
        button('Remove', {
          class: 'btn small ghost', testid: 'tf-rule-remove', 'aria-label': `Remove rule: ${rule.description}`,
          onclick: () => { rules.splice(index, 1); renderRules(); },
        })));
    });
    const missing = uncoveredTags();
    uncovered.hidden = !missing.length;
    uncovered.textContent = missing.length
      ? `Incoming tag(s) not covered by any Remove or Map rule: ${missing.join(', ')}. A sync that meets them fails until a rule covers them.`
      : '';
  }

  const kindSelect = select(Object.entries(RULE_KINDS).map(([value, k]) => ({ value, label: k.label })), { testid: 'tf-kind' });
  kindSelect.value = 'map';
  const predicate = select([{ value: '', label: 'Choose a tag…', disabled: true }].concat(predicateChoices.map((t) => ({ value: t, label: t }))), { testid: 'tf-predicate' });
  predicate.value = '';
  const value = select([{ value: '', label: 'Choose a tag…', disabled: true }].concat(valueChoices.map((t) => ({ value: t, label: t }))), { testid: 'tf-value' });
  value.value = '';
  const description = h('input', { type: 'text', testid: 'tf-description', placeholder: 'Why this rule exists' });
  const addError = fieldError('tf-add-error');
  const predicateNote = h('p', { class: 'hint', testid: 'tf-predicate-note', hidden: predicateChoices.length > 0 },
    receiving ? 'No incoming tags seen from the partner yet; they are known after the first sync.' : 'This connection has no permitted control tags, so there is nothing to choose.');
  const valueNote = h('p', { class: 'hint', testid: 'tf-value-note', hidden: valueChoices.length > 0 },
    receiving ? 'This platform has no active control tags.' : 'This connection has no permitted control tags, so there is nothing to choose.');
  predicate.disabled = !predicateChoices.length;
  value.disabled = !valueChoices.length;
  const predicateField = field('When the tag is', predicate);
  predicateField.append(predicateNote);
  const valueField = field(kindSelect.value === 'add' ? 'Add the tag' : 'Replace it with', value);
  valueField.append(valueNote);
  const valueLabel = valueField.querySelector('label');
  function syncKind() {
    const k = RULE_KINDS[kindSelect.value];
    predicateField.hidden = !k.needsPredicate;
    valueField.hidden = !k.needsValue;
    valueLabel.textContent = kindSelect.value === 'add' ? 'Tag to add' : 'Replace it with';
    predicateField.querySelector('label').textContent = kindSelect.value === 'remove' ? 'Tag to remove' : 'When the tag is';
  }
  kindSelect.addEventListener('change', syncKind);
  syncKind();

  const addRule = button('Add rule', { class: 'btn', testid: 'tf-add' });
  addRule.addEventListener('click', () => {
    const kind = kindSelect.value;
    const k = RULE_KINDS[kind];
    if (k.needsPredicate && !predicate.value) return setFieldError(addError, predicateChoices.length ? 'Choose the tag the rule applies to.' : 'There are no tags to choose from yet.');
    if (k.needsValue && !value.value) return setFieldError(addError, valueChoices.length ? 'Choose the tag to write.' : 'There are no tags to choose from.');
    if (!description.value.trim()) return setFieldError(addError, 'Every rule needs a description.');
    setFieldError(addError, '');
    rules.push({ kind, predicate: k.needsPredicate ? predicate.value : null, value: k.needsValue ? value.value : null, description: description.value.trim() });
    description.value = '';
    predicate.value = '';
    value.value = '';
    renderRules();
    return undefined;
  });

  append(dlg.body, [
    h('p', { class: 'callout', testid: 'tf-order-note' },
      'Rules always run in this order, whatever order they are listed in: first removes, then maps, then adds.'),
    receiving
      ? h('p', { class: 'muted' }, 'Predicates come from the tags the partner sends; values from this platform’s active control tags. Map the partner’s tags to honest local equivalents.')
      : h('p', { class: 'muted' }, 'Predicates and values come from this connection’s permitted control tags.'),
    uncovered,
    h('h3', {}, 'Rules'),
    list,
    h('fieldset', { class: 'add-rule', testid: 'tf-add-form' },
      h('legend', {}, 'New rule'),
      h('div', { class: 'grid-form' },
        field('Type', kindSelect),
        predicateField,
        valueField,
        field('Description', description)),
      addError,
      h('div', { class: 'actions' }, addRule)),
    error,
  ]);
  renderRules();

  const save = button('Save', { class: 'btn primary', testid: 'tf-save' });
  dlg.footer.append(button('Cancel', { testid: 'dlg-cancel', onclick: dlg.close }), save);
  save.addEventListener('click', async () => {
    busy(save, true, 'Saving…');
    try {
      const saved = await api('PUT', `/api/v1/connections/${encodeURIComponent(c.id)}/transforms`, { rules });
      dlg.close();
      const left = saved.uncovered_incoming_tags || [];
      notify(left.length ? `Rules saved; still uncovered: ${left.join(', ')}.` : 'Transform rules saved.', left.length ? 'warning' : 'success');
      if (location.pathname === '/admin/secure-connections') connectionsPage();
    } catch (err) {
      busy(save, false);
      error.hidden = false;
      error.textContent = describeError(err);
    }
  });
}
