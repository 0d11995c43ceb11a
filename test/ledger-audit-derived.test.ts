/**
 * `writ audit verify` against tampering that leaves every tree hash intact: the derived
 * tables. The index columns and the lineage index (ledger_writs) must say what the leaves
 * say; the revocations and approvals in the node's state must be the ones the ledger
 * recorded. Each tampering runs on its own copy of one honest home.
 */
import assert from 'node:assert/strict';
import type { DatabaseSync } from 'node:sqlite';
import { before, describe, it } from 'node:test';
import { revoke } from '../src/node/evidence.ts';
import { decideApproval } from '../src/node/approval.ts';
import type { AuthorizeRequest } from '../src/node/node.ts';
import { copyHome, scratchDir, tamper, writ } from './audit-helpers.ts';
import { fixture, policyFolder } from './helpers.ts';

const POLICY = policyFolder({
  'p.cedar': '@id("careful-write")\n@approval("required")\npermit (principal == Agent::"a1", action == Action::"tools/call", resource == Tool::"fs/write");\n@id("read")\npermit (principal, action == Action::"tools/call", resource == Tool::"fs/read");\n',
});
const A1 = 'Agent::"a1"';
const READ: AuthorizeRequest = { principal: A1, action: 'Action::"tools/call"', resource: 'Tool::"fs/read"', args: { path: '/srv/a' } };
const WRITE = (path: string): AuthorizeRequest => ({ principal: A1, action: 'Action::"tools/call"', resource: 'Tool::"fs/write"', args: { path } });

interface Template {
  home: string;
  rootJti: string;
  childJti: string;
  childIdx: number;
  revokedJti: string;
  approvedId: string;
  pendingId: string;
}

async function buildTemplate(): Promise<Template> {
  const f = await fixture({ policyDir: POLICY });
  const root = await f.node.authorize(READ);
  const child = await f.node.authorize({ ...READ, parent: root.writ as string });
  assert.equal(child.decision, 'allow');
  const other = await f.node.authorize(READ);
  await revoke(f.ledger, f.state, { kind: 'writ', value: other.claims?.jti as string, reason: 'test', by: 'test' });
  const approved = await f.node.authorize(WRITE('/srv/approved'));
  await decideApproval(f.ledger, f.state, approved.approvalId as string, 'approved', 'test');
  const pending = await f.node.authorize(WRITE('/srv/pending'));
  const t = {
    home: f.home,
    rootJti: root.claims?.jti as string,
    childJti: child.claims?.jti as string,
    childIdx: child.ledgerIndex as number,
    revokedJti: other.claims?.jti as string,
    approvedId: approved.approvalId as string,
    pendingId: pending.approvalId as string,
  };
  f.close();
  scratchDir(f.home);
  return t;
}

function copyOf(t: Template, f: (db: DatabaseSync) => void): string {
  const home = copyHome(t.home);
  tamper(home, f);
  return home;
}

function fails(home: string, pattern: RegExp): string {
  const r = writ(['audit', 'verify', '--home', home]);
  assert.equal(r.status, 1, `audit verify should fail:\n${r.stdout}${r.stderr}`);
  assert.match(r.stdout, pattern, r.stdout);
  assert.match(r.stdout, /FAILED/);
  return r.stdout;
}

describe('writ audit verify: derived tables and state', () => {
  let t: Template;
  before(async () => {
    t = await buildTemplate();
  });

  it('passes on the honest home, and says the state agrees with the ledger', () => {
    const r = writ(['audit', 'verify', '--home', copyOf(t, () => undefined)]);
    assert.equal(r.status, 0, `${r.stdout}${r.stderr}`);
    assert.match(r.stdout, /state: revocations and approvals checked against the ledger: consistent/);
  });

  it('a lineage row edited to make a child look like a root (depth 0, no parent)', () => {
    const home = copyOf(t, (db) => db.prepare('UPDATE ledger_writs SET depth = 0, parent = NULL, root = jti WHERE jti = ?').run(t.childJti));
    fails(home, new RegExp(`FIRST DIVERGENCE at ${t.childIdx}: index_mismatch: .*lineage index says parent`));
  });

  it('a lineage row deleted, or one added for a writ never issued', () => {
    fails(copyOf(t, (db) => db.prepare('DELETE FROM ledger_writs WHERE jti = ?').run(t.childJti)), new RegExp(`FIRST DIVERGENCE at ${t.childIdx}: index_mismatch: .*missing from the lineage index`));
    const forged = copyOf(t, (db) => db.prepare("INSERT INTO ledger_writs (jti, decision_idx, principal, action, resource, parent, root, depth, exp) VALUES ('forged', 0, 'x', 'y', 'z', NULL, 'forged', 0, 0)").run());
    fails(forged, /index_mismatch: .*(holds a writ for an entry that issued none|holds writ forged)/);
  });

  it('an entry re-indexed under another jti (so outcome and revocation lookups find the wrong writ)', () => {
    const home = copyOf(t, (db) => db.prepare("UPDATE ledger_entries SET jti = 'someone-else' WHERE jti = ? AND type = 'decision'").run(t.rootJti));
    fails(home, /index_mismatch: entry \d+: indexed under jti someone-else/);
  });

  it('a revocation deleted from the state (which would re-enable the writ)', () => {
    const home = copyOf(t, (db) => db.prepare("DELETE FROM revocations WHERE kind = 'writ' AND value = ?").run(t.revokedJti));
    fails(home, new RegExp(`revocation_missing at \\d+: .*revoked writ ${t.revokedJti}`));
  });

  it('a pending approval flipped to approved in the state (which would let the call through)', () => {
    const home = copyOf(t, (db) => db.prepare("UPDATE approvals SET status = 'approved', decided_by = 'x' WHERE id = ?").run(t.pendingId));
    fails(home, new RegExp(`approval_mismatch at \\d+: approval ${t.pendingId} is approved in the node's state, but the ledger recorded no decision`));
  });

  it('an approved approval rebound to other arguments, and an approval with no recorded request', () => {
    fails(copyOf(t, (db) => db.prepare("UPDATE approvals SET intent = 'other' WHERE id = ?").run(t.approvedId)), new RegExp(`approval ${t.approvedId}: its intent or policy differs`));
    const invented = copyOf(t, (db) =>
      db.prepare("INSERT INTO approvals (id, intent, principal, action, resource, policy_digest, expires, status) VALUES ('invented', 'i', 'p', 'a', 'r', 'd', '2999-01-01T00:00:00.000Z', 'approved')").run(),
    );
    fails(invented, /approval_unrecorded: approval invented \(approved\) has no approval_required decision/);
  });
});
