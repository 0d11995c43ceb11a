/**
 * Proof viewer: a writ, and/or a C2SP tlog-proof file with its ledger entry, verified
 * in this browser by the project's own code (verifyWrit, verifyProofFile) with
 * WebCrypto Ed25519, against the keys the user pinned. Every check is listed as
 * passed, failed or not checked; with pinned witness keys, K of them must have cosigned
 * the proof's checkpoint. Verification makes no request: the server's word
 * counts for nothing here (a proof loaded from the ledger page is just input).
 */
import { getJson } from '../api.ts';
import { badge, checkList, clear, errorBox, h } from '../dom.ts';
import { pinPanel, pins } from '../pins.ts';
import { verifyProof, type Check } from '../verify/proofs.ts';
import { checkWrit } from '../verify/writ.ts';

const enc = new TextEncoder();

function verdict(ok: boolean, checks: Check[], what: string): HTMLElement {
  const failed = checks.find((c) => !c.ok && !c.skipped);
  return h(
    'div',
    { class: `verdict ${ok ? 'ok' : 'bad'}`, dataset: { ok: String(ok) } },
    ok ? `${what}: every check passed` : failed ? `${what}: INVALID — ${failed.name} failed` : `${what}: not checked`,
  );
}

function claimsTable(claims: Record<string, unknown>): HTMLElement {
  return h(
    'table',
    { class: 'grid claims' },
    h(
      'tbody',
      null,
      Object.entries(claims).map(([k, v]) => h('tr', null, h('th', null, k), h('td', { class: 'mono' }, typeof v === 'string' ? v : JSON.stringify(v)))),
    ),
  );
}

function bindingChecks(claims: Record<string, unknown>, entry: Record<string, unknown>, proofIndex: number | undefined): Check[] {
  const w = (entry.writ ?? {}) as Record<string, unknown>;
  const result = (entry.result ?? {}) as Record<string, unknown>;
  const pol = (entry.policy ?? {}) as Record<string, unknown>;
  const cpol = (claims.pol ?? {}) as Record<string, unknown>;
  const check = (name: string, ok: boolean, good: string, bad: string): Check => ({ name, ok, detail: ok ? good : bad });
  return [
    check('decision leaf', entry.type === 'decision' && result.decision === 'allow', 'the entry is an allow decision', `the entry is a ${String(entry.type)} ${String(result.decision ?? '')}, not an allow decision`),
    check('jti', w.jti === claims.jti, `the entry issued writ ${String(claims.jti)}`, `the entry's writ is ${String(w.jti)}, not ${String(claims.jti)}`),
    check('ledger index', proofIndex === claims.led, `the writ's led ${String(claims.led)} is the proven index`, `the writ names entry ${String(claims.led)}, the proof is for entry ${String(proofIndex)}`),
    check('intent', w.intent === claims.intent, 'same intent digest', 'the intent digests differ'),
    check('input', entry.inputDigest === claims.in, 'the entry’s inputDigest is the writ’s in claim', 'the decision input digests differ'),
    check('policy', pol.digest === cpol.digest && pol.version === cpol.version, `bundle v${String(cpol.version)} ${String(cpol.digest)}`, 'the policy bundles differ'),
  ];
}

function kindOf(text: string): 'proof' | 'writ' | 'jwks' | 'logkey' | 'entry' | null {
  const t = text.trim();
  if (t.startsWith('c2sp.org/tlog-proof@v1')) return 'proof';
  if (/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/.test(t)) return 'writ';
  if (/^[^+\s]+\+[0-9a-fA-F]{8}\+[A-Za-z0-9+/=]+$/.test(t)) return 'logkey';
  try {
    const v = JSON.parse(t) as Record<string, unknown>;
    if (Array.isArray(v.keys)) return 'jwks';
    if (typeof v.type === 'string') return 'entry';
  } catch {
    return null;
  }
  return null;
}

export function render(root: HTMLElement, params: URLSearchParams): void {
  const writ = h('textarea', { id: 'writ', rows: 4, spellcheck: false, placeholder: 'eyJhbGciOiJFZDI1NTE5…  (a compact writ)' });
  const audience = h('input', { id: 'audience', type: 'text', spellcheck: false, placeholder: 'e.g. Tool::"fs/read" — empty: not checked' });
  const args = h('textarea', { id: 'args', rows: 2, spellcheck: false, placeholder: '{"path":"/srv/report.txt"} — the arguments about to be used; empty: intent not checked' });
  const at = h('select', { id: 'at' }, h('option', { value: 'now' }, 'now'), h('option', { value: 'iat' }, 'at its issue time (an old writ)'));
  const proof = h('textarea', { id: 'proof', rows: 9, spellcheck: false, placeholder: 'c2sp.org/tlog-proof@v1\nindex 4\n…  (writ audit prove)' });
  const entry = h('textarea', { id: 'entry', rows: 4, spellcheck: false, placeholder: '{"id":…,"type":"decision",…}  — the entry’s exact bytes (writ audit entry)' });
  const witnessKeys = h('textarea', { id: 'witness-keys', rows: 3, spellcheck: false, placeholder: 'witness.example/w1+…+BA…  — one pinned witness key per line (writ witness key); empty: witnesses not required' });
  const minWitnesses = h('input', { id: 'min-witnesses', type: 'number', min: '1', step: '1', placeholder: 'all' });
  const source = h('div', { id: 'source' });
  const results = h('div', { id: 'results' });
  let entryBytes: Uint8Array | null = null;
  entry.addEventListener('input', () => (entryBytes = null));

  const place = (text: string, bytes?: Uint8Array) => {
    const k = kindOf(text);
    if (k === 'proof') proof.value = text;
    else if (k === 'writ') writ.value = text.trim();
    else if (k === 'entry') {
      entry.value = text;
      entryBytes = bytes ?? null;
    } else if (k === 'jwks' || k === 'logkey') {
      const input = document.getElementById(k === 'jwks' ? 'pin-jwks' : 'pin-log') as HTMLInputElement | HTMLTextAreaElement;
      input.value = text.trim();
      input.dispatchEvent(new Event('input'));
    } else clear(source, h('div', { class: 'error' }, 'Dropped content is neither a writ, a proof file, an entry, a JWKS nor a log key.'));
  };
  const drop = h('div', { class: 'dropzone', id: 'dropzone', tabIndex: 0 }, 'Drop files here — a writ, a .tlog-proof file, its entry, a JWKS or a log key — or paste below.');
  drop.addEventListener('dragover', (e) => (e.preventDefault(), drop.classList.add('over')));
  drop.addEventListener('dragleave', () => drop.classList.remove('over'));
  drop.addEventListener('drop', (e) => {
    e.preventDefault();
    drop.classList.remove('over');
    for (const f of Array.from(e.dataTransfer?.files ?? [])) void f.arrayBuffer().then((b) => place(new TextDecoder().decode(b), new Uint8Array(b)));
    const text = e.dataTransfer?.getData('text/plain');
    if (text && !e.dataTransfer?.files.length) place(text);
  });

  const verify = async () => {
    clear(results, h('p', { class: 'muted' }, 'Verifying in this browser…'));
    const out: HTMLElement[] = [];
    let claims: Record<string, unknown> | null = null;
    if (writ.value.trim()) {
      const r = await checkWrit({ writ: writ.value.trim(), jwks: pins.jwks(), audience: audience.value, args: args.value, at: at.value === 'iat' ? 'iat' : 'now' });
      claims = r.claims as unknown as Record<string, unknown> | null;
      out.push(h('section', { class: 'card result', id: 'writ-result' }, h('h2', null, 'Writ'), verdict(r.ok, r.checks, 'writ'), checkList(r.checks), claims ? [h('h3', null, 'Verified claims'), claimsTable(claims)] : null));
    }
    let proofIndex: number | undefined;
    let proofOk = false;
    if (proof.value.trim() || entry.value.trim()) {
      const bytes = entryBytes ?? enc.encode(entry.value);
      const keys = witnessKeys.value.split('\n').map((l) => l.trim()).filter((l) => l !== '');
      const min = minWitnesses.value.trim() === '' ? keys.length : Number(minWitnesses.value);
      // a minimum without keys, or a bad number, is a policy no proof meets: verifyCosignatures refuses it
      const policy = keys.length > 0 || minWitnesses.value.trim() !== '' ? { keys, min: Number.isSafeInteger(min) && min >= 1 ? min : -1 } : undefined;
      const r = await verifyProof(proof.value, bytes, pins.logKey(), policy);
      proofIndex = r.index;
      proofOk = r.ok;
      const noKey = pins.logKey() === '' ? h('p', { class: 'error' }, 'Pin the log verifier key (writ keys --log) to check the signature.') : null;
      const cp = r.checkpoint ? h('p', { class: 'muted' }, `checkpoint: ${r.checkpoint.origin}, tree size ${r.checkpoint.size}`) : null;
      out.push(h('section', { class: 'card result', id: 'proof-result' }, h('h2', null, 'Proof of inclusion'), noKey, verdict(r.ok, r.checks, 'proof'), checkList(r.checks), cp));
    }
    if (writ.value.trim() && !claims && (proof.value.trim() || entry.value.trim())) {
      const checks = [{ name: 'binding', ok: false, skipped: true, detail: 'not checked: the writ failed' }];
      out.push(h('section', { class: 'card result', id: 'binding-result' }, h('h2', null, 'The writ is this entry’s decision'), verdict(false, checks, 'binding'), checkList(checks)));
    }
    if (claims && (proof.value.trim() || entry.value.trim())) {
      let leaf: Record<string, unknown>;
      try {
        leaf = JSON.parse(entry.value) as Record<string, unknown>;
      } catch {
        leaf = {};
      }
      const checks = proofOk ? bindingChecks(claims, leaf, proofIndex) : [{ name: 'binding', ok: false, skipped: true, detail: 'not checked: the proof failed' }];
      const ok = checks.every((c) => c.ok);
      out.push(h('section', { class: 'card result', id: 'binding-result' }, h('h2', null, 'The writ is this entry’s decision'), verdict(ok, checks, 'binding'), checkList(checks)));
    }
    clear(results, out.length ? out : h('p', { class: 'muted' }, 'Paste or drop a writ, or a proof file with its entry.'));
  };

  root.append(
    h('h1', null, 'Proof viewer'),
    pinPanel({ jwks: true, logKey: true }),
    drop,
    source,
    h(
      'div',
      { class: 'two' },
      h(
        'section',
        { class: 'card' },
        h('h2', null, 'Writ'),
        h('label', { class: 'field' }, h('span', null, 'Writ'), writ),
        h('label', { class: 'field' }, h('span', null, 'Audience (this enforcement point)'), audience),
        h('label', { class: 'field' }, h('span', null, 'Arguments (JSON)'), args),
        h('label', { class: 'field inline' }, h('span', null, 'Judge the time window'), at),
      ),
      h(
        'section',
        { class: 'card' },
        h('h2', null, 'Proof file and entry'),
        h('label', { class: 'field' }, h('span', null, 'Proof file (C2SP tlog-proof@v1)'), proof),
        h('label', { class: 'field' }, h('span', null, 'Entry (exact leaf bytes)'), entry),
        h('label', { class: 'field' }, h('span', null, 'Witnesses required (C2SP cosignature/v1 keys): a split view is caught only by witnesses'), witnessKeys),
        h('label', { class: 'field inline' }, h('span', null, 'At least this many of them'), minWitnesses),
      ),
    ),
    h('div', { class: 'actions-row' }, h('button', { id: 'verify', on: { click: () => void verify().catch((e: unknown) => clear(results, errorBox(e))) } }, 'Verify in this browser'), ' ', badge(null, 'no network request while verifying')),
    results,
  );

  const index = params.get('index');
  if (index !== null) {
    void getJson<{ index: number; proof: string; entry: string }>(`/console/api/proof?index=${encodeURIComponent(index)}`)
      .then((p) => {
        proof.value = p.proof;
        entry.value = p.entry;
        entryBytes = null;
        clear(source, h('div', { class: 'notice' }, `Loaded entry ${p.index} and a proof of it from the server. That is only input: press Verify to check it here against your pinned log key.`));
      })
      .catch((err: unknown) => clear(source, errorBox(err)));
  }
}
