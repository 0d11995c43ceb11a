/**
 * Lineage on the decision path: a child request's parent writ must be authentic, in
 * its time window, not revoked (nor any ancestor), and of the same principal; the
 * child is one level deeper, within the depth limit. And what "revoked" means for a
 * writ: itself, an ancestor, its root, its principal (revoked or quarantined), the
 * node that issued it, or the bundle version it was decided under.
 */
import type { JSONWebKeySet } from 'jose';
import type { Ledger } from '../ledger/ledger.ts';
import type { RevocationView } from './state.ts';
import { DenyError } from '../reasons.ts';
import { errorMessage } from '../util.ts';
import type { WritClaims } from '../writ/claims.ts';
import { verifyWritAuthenticity } from '../writ/verify.ts';
import { revocationReason } from '../writ/revocation-list.ts';

export interface Lineage {
  parent: string | null;
  root: string | null;
  depth: number;
  rootPrincipal: string;
  parentAction: string;
  parentExp: number | null;
  /** every ancestor, nearest first (parent … root): the child writ's `lin.anc` */
  ancestors: string[];
}

/** Why a revocation covers this writ (writ/revocation-list.ts's rules), with the ancestors this node's ledger knows beyond the parent, for writs issued before `lin.anc`. */
export function revocationOf(c: WritClaims, revoked: RevocationView, ledger: Ledger, maxDepth: number): string | null {
  return revocationReason(revoked, c, ledgerAncestors(c, ledger, maxDepth));
}

/** The parent's ancestors as this node's ledger records them, read lazily (at most maxDepth hops). */
function* ledgerAncestors(c: WritClaims, ledger: Ledger, maxDepth: number): Generator<string> {
  let anc = c.lin.parent === null ? null : (ledger.writ(c.lin.parent)?.parent ?? null);
  for (let hops = 0; anc !== null && hops < maxDepth; hops++) {
    yield anc;
    anc = ledger.writ(anc)?.parent ?? null;
  }
}

/** Verifies the parent writ (without consuming it) and derives the child's lineage; throws a DenyError. */
/**
 * Parent writs whose signature was already verified (a session's root is the parent of
 * every call in the session), with the key that verified them. A hit still requires
 * that key to be pinned unchanged, and the time window and revocations are checked on
 * every use.
 */
const verifiedParents = new WeakMap<JSONWebKeySet, Map<string, { claims: WritClaims; kid: string; x: string | undefined }>>();

async function authenticParent(parent: string, o: { keys: JSONWebKeySet; now: Date; maxLifetimeSeconds: number }): Promise<WritClaims> {
  let cache = verifiedParents.get(o.keys);
  if (!cache) verifiedParents.set(o.keys, (cache = new Map()));
  const hit = cache.get(parent);
  const now = Math.floor(o.now.getTime() / 1000);
  if (hit && o.keys.keys.some((k) => k.kid === hit.kid && k.x === hit.x)) {
    if (hit.claims.exp <= now) throw new DenyError('parent_invalid', `parent writ: writ expired at ${hit.claims.exp}, now is ${now}`);
    if (hit.claims.nbf > now) throw new DenyError('parent_invalid', `parent writ: writ is valid from ${hit.claims.nbf}, now is ${now}`);
    return hit.claims;
  }
  let verified;
  try {
    verified = await verifyWritAuthenticity(parent, { keys: o.keys, clockToleranceSeconds: 0, maxLifetimeSeconds: o.maxLifetimeSeconds, now: o.now });
  } catch (err) {
    throw new DenyError('parent_invalid', `parent writ: ${errorMessage(err)}`);
  }
  if (cache.size >= 4096) cache.clear();
  cache.set(parent, { claims: verified.claims, kid: verified.kid, x: o.keys.keys.find((k) => k.kid === verified.kid)?.x });
  return verified.claims;
}

export async function childLineage(
  parent: string | undefined,
  principal: string,
  o: { keys: JSONWebKeySet; now: Date; maxLifetimeSeconds: number; maxDepth: number; ledger: Ledger; revocationOf: (c: WritClaims) => string | null },
): Promise<Lineage> {
  if (parent === undefined) return { parent: null, root: null, depth: 0, rootPrincipal: principal, parentAction: '', parentExp: null, ancestors: [] };
  const p = await authenticParent(parent, o);
  const revoked = o.revocationOf(p);
  if (revoked !== null) throw new DenyError('parent_revoked', `parent writ: ${revoked}`);
  if (p.sub !== principal) throw new DenyError('parent_principal_mismatch', `parent writ is for ${p.sub}, not ${principal}`);
  const depth = p.lin.depth + 1;
  if (depth > o.maxDepth) throw new DenyError('lineage_too_deep', `lineage depth ${depth} exceeds ${o.maxDepth}`);
  const rootRow = o.ledger.writ(p.lin.root);
  // the parent's own chain, else (a writ from before lin.anc) what it names: its parent and root
  const above = p.lin.anc ?? [...new Set([p.lin.parent, p.lin.root].filter((j): j is string => j !== null && j !== p.jti))];
  return { parent: p.jti, root: p.lin.root, depth, rootPrincipal: rootRow?.principal ?? p.sub, parentAction: p.act.action, parentExp: p.exp, ancestors: [p.jti, ...above].slice(0, depth) };
}
