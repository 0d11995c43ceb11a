/**
 * A writ checked in the browser by the project's own verifier (src/writ/verify.ts,
 * bundled as is: jose with WebCrypto Ed25519, JCS), against the JWKS the user pinned.
 * verifyWrit stops at the first failing check and names it by its reason code; this
 * module lays its order out as a list, so the page shows every check as passed,
 * failed, or not reached. Revocation and single use need the node's own state, which
 * this page does not ask for: they are reported as not checked here.
 */
import type { JSONWebKeySet } from 'jose';
import { verifyWrit, WritVerificationError, type WritClaims } from '../../../writ/verify.ts';
import type { Check } from './proofs.ts';

interface Step {
  name: string;
  label: string;
}

/** verifyWrit's checks, in its order (docs/writ.md, "Verification order"). */
export const WRIT_STEPS: Step[] = [
  { name: 'format', label: 'compact JWS, JSON header' },
  { name: 'algorithm', label: 'alg is Ed25519' },
  { name: 'typ', label: 'typ is writ+jwt' },
  { name: 'key', label: 'kid names a pinned key' },
  { name: 'signature', label: 'Ed25519 signature (WebCrypto)' },
  { name: 'claims', label: 'claims well-formed, v = 1' },
  { name: 'not-before', label: 'nbf reached' },
  { name: 'expiry', label: 'exp not passed' },
  { name: 'lifetime', label: 'lifetime within the cap' },
  { name: 'audience', label: 'aud is this enforcement point' },
  { name: 'intent', label: 'intent matches the arguments' },
];

function stepOf(err: WritVerificationError): string {
  switch (err.code) {
    case 'writ_malformed':
      return /compact JWS|writ header|16 KiB/.test(err.message) ? 'format' : 'claims';
    case 'writ_algorithm_rejected':
      return 'algorithm';
    case 'writ_typ_invalid':
      return 'typ';
    case 'writ_unknown_key':
      return 'key';
    case 'writ_signature_invalid':
      return 'signature';
    case 'writ_not_yet_valid':
    case 'verifier_config_invalid':
      return 'not-before';
    case 'writ_expired':
      return 'expiry';
    case 'writ_lifetime_exceeded':
      return 'lifetime';
    case 'writ_audience_mismatch':
      return 'audience';
    default:
      return 'intent';
  }
}

/** The payload as written, NOT verified: only to fill in defaults and to show what a failing writ claims. */
export function unverifiedClaims(writ: string): Record<string, unknown> | null {
  try {
    const part = writ.trim().split('.')[1] ?? '';
    const json = atob(part.replace(/-/g, '+').replace(/_/g, '/'));
    const v: unknown = JSON.parse(new TextDecoder().decode(Uint8Array.from(json, (c) => c.charCodeAt(0))));
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

export interface WritInput {
  writ: string;
  /** the pinned JWKS, as text */
  jwks: string;
  /** this enforcement point's audience; empty: not checked */
  audience: string;
  /** the arguments about to be used, JSON; empty: not checked */
  args: string;
  /** judge the time window now, or at the writ's own issue time */
  at: 'now' | 'iat';
}

export interface WritResult {
  ok: boolean;
  checks: Check[];
  claims: WritClaims | null;
}

export async function checkWrit(input: WritInput): Promise<WritResult> {
  const checks: Check[] = [];
  let keys: JSONWebKeySet;
  try {
    const parsed: unknown = JSON.parse(input.jwks);
    if (typeof parsed !== 'object' || parsed === null || !Array.isArray((parsed as { keys?: unknown }).keys)) throw new Error('not a JWKS ({"keys": [...]})');
    keys = parsed as JSONWebKeySet;
    checks.push({ name: 'pinned keys', ok: true, detail: `${keys.keys.length} key(s): ${keys.keys.map((k) => k.kid ?? '?').join(', ')}` });
  } catch (e) {
    checks.push({ name: 'pinned keys', ok: false, detail: `pin the node's JWKS first (writ keys --jwks): ${e instanceof Error ? e.message : String(e)}` });
    for (const s of WRIT_STEPS) checks.push({ name: s.name, ok: false, skipped: true, detail: 'not checked: no pinned keys' });
    return { ok: false, checks, claims: null };
  }
  let args: unknown = {};
  const argsGiven = input.args.trim() !== '';
  if (argsGiven) {
    try {
      args = JSON.parse(input.args);
    } catch {
      args = Symbol('not JSON'); // no canonical form: verifyWrit reports writ_intent_mismatch
    }
  }
  const claimed = unverifiedClaims(input.writ);
  const audienceGiven = input.audience.trim() !== '';
  const audience = audienceGiven ? input.audience.trim() : typeof claimed?.aud === 'string' ? claimed.aud : '';
  const iat = typeof claimed?.iat === 'number' ? claimed.iat : NaN;
  const now = input.at === 'iat' ? new Date(iat * 1000) : new Date();

  let failedAt = -1;
  let error: WritVerificationError | null = null;
  let claims: WritClaims | null = null;
  try {
    claims = (await verifyWrit(input.writ, { keys, audience, args, consume: false, now })).claims;
  } catch (e) {
    if (!(e instanceof WritVerificationError)) throw e;
    error = e;
    failedAt = WRIT_STEPS.findIndex((s) => s.name === stepOf(e));
  }
  const when = input.at === 'iat' ? ' (judged at its issue time)' : '';
  WRIT_STEPS.forEach((s, i) => {
    if (error && i === failedAt) {
      if (s.name === 'intent' && !argsGiven) checks.push({ name: s.name, ok: true, skipped: true, detail: 'not checked: give the arguments to check the intent' });
      else checks.push({ name: s.name, ok: false, detail: `${error.code}: ${error.message}` });
    } else if (error && i > failedAt) checks.push({ name: s.name, ok: false, skipped: true, detail: `not checked: ${WRIT_STEPS[failedAt]?.name} failed` });
    else if (s.name === 'audience' && !audienceGiven) checks.push({ name: s.name, ok: true, skipped: true, detail: 'not checked: no audience given' });
    else checks.push({ name: s.name, ok: true, detail: `${s.label}${['not-before', 'expiry'].includes(s.name) ? when : ''}` });
  });
  const reached = !error || (stepOf(error) === 'intent' && !argsGiven);
  checks.push({ name: 'revocation', ok: true, skipped: true, detail: 'not checked here: needs the node’s revocation list' });
  checks.push({ name: 'single use', ok: true, skipped: true, detail: 'not checked here: needs the enforcement point’s jti store' });
  const ok = checks.every((c) => c.ok);
  // with the intent unchecked, every check up to it passed: the payload is the signed one
  return { ok, checks, claims: error === null ? claims : reached ? (claimed as unknown as WritClaims) : null };
}
