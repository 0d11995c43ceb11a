/**
 * "Try your own request": principal, action, resource and arguments, prefilled from what
 * the demo lets an anonymous visitor name; an optional admin credential to go beyond
 * the sandbox. The answer is the same chain as a step's; a refusal (400, 401, 403, 429)
 * is shown with its status, code and message.
 */
import { clear, h } from '../dom.ts';
import { demoApi, errorLine } from './demo-api.ts';
import type { Chains } from './demo.ts';
// the JSON shapes the server sends (type-only: nothing of the server is bundled)
import type { DemoOverview } from '../../../demo/contract.ts';

function field(label: string, input: HTMLElement): HTMLElement {
  return h('label', { class: 'field' }, h('span', null, label), input);
}

function choice(id: string, values: string[]): [HTMLInputElement, HTMLElement] {
  const list = h('datalist', { id: `${id}-options` }, values.map((v) => h('option', { value: v })));
  const input = h('input', { id, type: 'text', spellcheck: false, value: values[0] ?? '' });
  input.setAttribute('list', `${id}-options`);
  return [input, list];
}

/** arguments to start from: a path in the sandbox when the first resource looks like a file tool */
function defaultArgs(o: DemoOverview): string {
  return JSON.stringify(/fs\//.test(o.resources[0] ?? '') ? { path: `${o.sandbox.replace(/\/$/, '')}/notes/hello.txt` } : {}, null, 2);
}

export function tryForm(o: DemoOverview, chains: Chains): HTMLElement {
  const [principal, pl] = choice('try-principal', o.principals);
  const [action, al] = choice('try-action', o.actions);
  const [resource, rl] = choice('try-resource', o.resources);
  const args = h('textarea', { id: 'try-args', rows: 4, spellcheck: false });
  args.value = defaultArgs(o);
  const token = h('input', { id: 'try-token', type: 'password', autocomplete: 'off', placeholder: 'optional: the admin credential (keys/admin.token), for principals and resources outside the sandbox' });
  const status = h('div', { id: 'try-status' });
  const box = h('div', { class: 'demo-chain', id: 'demo-chain-try' });
  const send = async () => {
    let parsed: unknown;
    try {
      parsed = JSON.parse(args.value || '{}');
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error('the arguments must be a JSON object');
    } catch (err) {
      clear(status, h('div', { class: 'error demo-error', dataset: { status: 'client' } }, `Arguments: ${err instanceof Error ? err.message : String(err)}`));
      return;
    }
    submit.disabled = true;
    clear(status, h('p', { class: 'muted' }, 'Sending…'));
    try {
      const chain = await demoApi.try({ principal: principal.value.trim(), action: action.value.trim(), resource: resource.value.trim(), args: parsed as Record<string, unknown> }, token.value.trim() || undefined);
      clear(status, h('p', { class: 'notice', id: 'try-done' }, `decided: ${chain.decision.decision}`));
      await chains.show(box, chain, 'try');
    } catch (err) {
      clear(status, errorLine(err, 'demo-error'));
      clear(box);
    } finally {
      submit.disabled = false;
    }
  };
  const submit = h('button', { type: 'submit', id: 'try-send' }, 'Send');
  return h(
    'section',
    { class: 'card demo-try', id: 'demo-try' },
    h('h2', null, 'Try your own request'),
    h('p', { class: 'muted' }, 'Without a credential, only the sandbox’s principals and resources (listed as suggestions); requests are rate-limited.'),
    h(
      'form',
      { id: 'demo-try-form', on: { submit: (e: SubmitEvent) => (e.preventDefault(), void send()) } },
      h('div', { class: 'two' }, field('Principal', principal), field('Action', action)),
      field('Resource', resource),
      field('Arguments (JSON object)', args),
      field('Admin credential (optional)', token),
      pl,
      al,
      rl,
      h('div', { class: 'actions-row' }, submit),
    ),
    status,
    box,
  );
}
