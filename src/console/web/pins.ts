/**
 * Keys the user pins: the node's writ JWKS and the log's verifier key. They decide
 * what the proof viewer and the ledger explorer accept, so they are never fetched:
 * the user pastes them from a source they trust (`writ keys --jwks`, `writ keys --log`)
 * and this browser remembers them (localStorage; public keys, no secret).
 */
import { h } from './dom.ts';

const JWKS_KEY = 'writ.pins.jwks';
const LOG_KEY = 'writ.pins.logKey';

export const pins = {
  jwks: (): string => localStorage.getItem(JWKS_KEY) ?? '',
  logKey: (): string => localStorage.getItem(LOG_KEY) ?? '',
  setJwks: (v: string): void => (v.trim() ? localStorage.setItem(JWKS_KEY, v.trim()) : localStorage.removeItem(JWKS_KEY)),
  setLogKey: (v: string): void => (v.trim() ? localStorage.setItem(LOG_KEY, v.trim()) : localStorage.removeItem(LOG_KEY)),
};

function describeJwks(text: string): string {
  if (!text.trim()) return 'nothing pinned';
  try {
    const keys = (JSON.parse(text) as { keys?: { kid?: string; crv?: string }[] }).keys;
    if (!Array.isArray(keys)) return 'not a JWKS';
    return `${keys.length} key(s): ${keys.map((k) => `${k.kid ?? '?'} (${k.crv ?? '?'})`).join(', ')}`;
  } catch {
    return 'not JSON';
  }
}

const describeLogKey = (k: string): string => (k.trim() ? `log ${k.split('+')[0]}, key ID ${k.split('+')[1] ?? '?'}` : 'nothing pinned');

/** The pinning panel; `what` picks which keys it shows. */
export function pinPanel(what: { jwks?: boolean; logKey?: boolean }, onChange: () => void = () => undefined): HTMLElement {
  const rows: HTMLElement[] = [];
  if (what.jwks) {
    const status = h('div', { class: 'pin-status', id: 'pin-jwks-status' }, describeJwks(pins.jwks()));
    const area = h('textarea', { id: 'pin-jwks', rows: 3, spellcheck: false, placeholder: '{"keys":[{"kty":"OKP","crv":"Ed25519","x":"…","kid":"…"}]}  — from `writ keys --jwks` (a fleet: `writ fleet keys`)' });
    area.value = pins.jwks();
    area.addEventListener('input', () => {
      pins.setJwks(area.value);
      status.textContent = describeJwks(area.value);
      onChange();
    });
    rows.push(h('label', { class: 'field' }, h('span', null, 'Writ signing keys (JWKS)'), area, status));
  }
  if (what.logKey) {
    const status = h('div', { class: 'pin-status', id: 'pin-log-status' }, describeLogKey(pins.logKey()));
    const input = h('input', { id: 'pin-log', type: 'text', spellcheck: false, placeholder: 'writ.local/default/node-1+c4e0f4c2+Acn6…  — from `writ keys --log`' });
    input.value = pins.logKey();
    input.addEventListener('input', () => {
      pins.setLogKey(input.value);
      status.textContent = describeLogKey(input.value);
      onChange();
    });
    rows.push(h('label', { class: 'field' }, h('span', null, 'Log verifier key'), input, status));
  }
  return h(
    'section',
    { class: 'card pins' },
    h('h2', null, 'Pinned keys'),
    h('p', { class: 'muted' }, 'Verification here trusts only these keys. This page never fetches keys: paste them from a source you trust. They stay in this browser.'),
    rows,
  );
}
