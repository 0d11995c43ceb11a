/**
 * Issue 9, point 6: state.db tampered with directly, as an attacker with the file would
 * (node:sqlite, foreign keys off), on real homes.
 *
 * (a) `bundle_active` pointed back at an older stored bundle, below `bundle_floor`: the
 *     node decides nothing (`bundle_rollback`, also a node already running, and /readyz
 *     says why) instead of deciding under the superseded policy, and `writ audit verify`
 *     names the mismatch. With the floor lowered too the node cannot tell at run time; the
 *     audit, for which the ledger's activation entries are the truth, finds the decisions
 *     made under the old bundle and the edited pointer and floor.
 * (b) `approvals.used` reset: the second use is refused at run time (the ledger's allow
 *     naming the approval; where the ledger cannot answer, as on a fleet node, the
 *     single-use records), and the audit flags the reset, a second allow naming one
 *     approval, an allow after the recorded expiry and an extended expiry.
 *
 * v1 allows writing, v2 forbids it: a decision made under v1 after v2 is visible.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { v7 as newId } from 'uuid';
import { openHome } from '../../src/home/open.ts';
import { expectedIndex } from '../../src/ledger/audit-index.ts';
import { encodeLeaf, leafObject, type LeafBase } from '../../src/ledger/leaf.ts';
import type { Ledger } from '../../src/ledger/ledger.ts';
import { decideApproval } from '../../src/node/approval.ts';
import { GovernanceNode, type AuthorizeRequest } from '../../src/node/node.ts';
import { layeredSingleUse, stateSingleUse, type SingleUseStore } from '../../src/node/single-use.ts';
import { buildApp } from '../../src/server/app.ts';
import { copyHome, out, scratchDir, tamper, writ } from '../audit-helpers.ts';
import { bundleBytes, fixture, policyFolder, type Fixture } from '../helpers.ts';

const A1 = 'Agent::"a1"';
const CALL = 'Action::"tools/call"';
const READ = 'permit (principal, action == Action::"tools/call", resource == Tool::"fs/read");';
const V1 = policyFolder({ 'p.cedar': `@id("v1-write")\npermit (principal == ${A1}, action == ${CALL}, resource == Tool::"fs/write");\n@id("read")\n${READ}\n` });
const V2 = policyFolder({ 'p.cedar': `@id("v2-no-write")\nforbid (principal, action, resource == Tool::"fs/write");\n@id("read")\n${READ}\n` });
const APPROVE = policyFolder({ 'p.cedar': `@id("careful-write")\n@approval("required")\npermit (principal == ${A1}, action == ${CALL}, resource == Tool::"fs/write");\n` });
const WRITE: AuthorizeRequest = { principal: A1, action: CALL, resource: 'Tool::"fs/write"', args: { path: '/srv/a', data: 'x' } };

interface DecisionOut {
  decision: 'allow' | 'deny';
  reasons: string[];
  errors?: string[];
  ledgerIndex: number | null;
}

/** `writ authorize` in a fresh process (a restarted node): the decision on WRITE. */
function authorizeWrite(home: string): DecisionOut {
  const r = writ(['authorize', '--home', home, '--principal', A1, '--action', CALL, '--resource', WRITE.resource, '--args', JSON.stringify(WRITE.args), '--json']);
  try {
    return JSON.parse(r.stdout) as DecisionOut;
  } catch {
    assert.fail(`writ authorize printed no decision: ${out(r)}`);
  }
}

function auditFails(home: string): string {
  const r = writ(['audit', 'verify', '--home', home]);
  assert.equal(r.status, 1, `audit verify should fail: ${out(r)}`);
  assert.match(r.stdout, /^FAILED$/m);
  return r.stdout;
}

function auditPasses(home: string): void {
  const r = writ(['audit', 'verify', '--home', home]);
  assert.equal(r.status, 0, `the honest home should pass: ${out(r)}`);
}

const fileOf = (f: Fixture): string => scratchDir(f.home);

describe('(a) bundle_active pointed back below bundle_floor', () => {
  let home: string;
  let domain: string;
  let v1: string;
  let v2: string;
  let v2Activation: number;

  before(async () => {
    // Activated an hour ago: a decision in flight across an activation may name the bundle it
    // replaced for a short while (ACTIVATION_OVERLAP_MS), and the attack below comes later.
    const f = await fixture({ policyDir: V1, now: () => new Date(Date.now() - 3600_000) }); // version 1
    domain = f.config.domain;
    v1 = f.state.activeBundleDigest(domain) as string;
    assert.equal((await f.node.authorize(WRITE)).decision, 'allow', 'v1 allows writing');
    v2Activation = (await f.node.policy.activate(bundleBytes(await f.sign(V2, { version: 2 })))).ledgerIndex;
    v2 = f.state.activeBundleDigest(domain) as string;
    assert.deepEqual((await f.node.authorize(WRITE)).reasons, ['policy_forbid'], 'v2 forbids it');
    home = fileOf(f);
    f.close();
    auditPasses(home);
  });

  const rolledBack = (): string => {
    const h = copyHome(home);
    tamper(h, (db) => db.prepare('UPDATE bundle_active SET digest = ? WHERE domain = ?').run(v1, domain));
    return h;
  };

  it('a restarted node denies every decision with bundle_rollback instead of deciding under v1', () => {
    const h = rolledBack();
    const d = authorizeWrite(h);
    assert.equal(d.decision, 'deny');
    assert.deepEqual(d.reasons, ['bundle_rollback']);
    assert.match(d.errors?.join('\n') ?? '', /version 1 .* below version 2, the highest ever activated here/);
    const status = writ(['policy', 'status', '--home', h]);
    assert.notEqual(status.status, 0, 'policy status refuses to name v1 active');
    assert.match(out(status), /bundle_rollback/);
    // the way out: a version above the floor
    const v3 = join(h, '..', 'bundle-3.json');
    assert.equal(writ(['policy', 'sign', V2, '--home', h, '--out', v3, '--version', '3']).status, 0);
    const activated = writ(['policy', 'activate', v3, '--home', h]);
    assert.equal(activated.status, 0, out(activated));
    assert.deepEqual(authorizeWrite(h).reasons, ['policy_forbid'], 'decided again, under v3');
  });

  it('a node already running (holding v2) denies too, and /readyz says why', async () => {
    const h = copyHome(home);
    const node = await openHome(h);
    try {
      assert.deepEqual((await node.node.authorize(WRITE)).reasons, ['policy_forbid'], 'v2 loaded');
      tamper(h, (db) => db.prepare('UPDATE bundle_active SET digest = ? WHERE domain = ?').run(v1, domain));
      await new Promise((r) => setTimeout(r, 150)); // past the hot path's 100 ms re-read
      const d = await node.node.authorize(WRITE);
      assert.deepEqual(d.reasons, ['bundle_rollback'], d.message);
      assert.deepEqual((await node.node.authorize({ ...WRITE, resource: 'Tool::"fs/read"' })).reasons, ['bundle_rollback'], 'every decision, not only the ones v1 and v2 disagree on');
      const app = await buildApp({ node: node.node, ledger: node.ledger, state: node.state, jwks: node.jwks, adminTokenSha256: node.config.admin.tokenSha256, log: node.log });
      try {
        const r = await app.inject({ method: 'GET', url: '/readyz' });
        assert.equal(r.statusCode, 503);
        assert.equal((r.json() as { reason?: string }).reason, 'bundle_rollback');
        assert.match(String((r.json() as { message?: string }).message), /bundle_rollback: the active bundle named in state\.db is version 1/);
        // repaired over HTTP too: the admin activates a version above the floor
        const v3 = join(h, '..', 'bundle-3-http.json');
        assert.equal(writ(['policy', 'sign', V2, '--home', h, '--out', v3, '--version', '3']).status, 0);
        const token = readFileSync(join(h, 'keys', 'admin.token'), 'utf8').trim();
        const put = await app.inject({ method: 'POST', url: '/v1/bundles', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, payload: readFileSync(v3, 'utf8') });
        assert.equal(put.statusCode, 201, put.body);
        assert.deepEqual((await node.node.authorize(WRITE)).reasons, ['policy_forbid'], 'decided again, under v3');
        assert.equal((await app.inject({ method: 'GET', url: '/readyz' })).statusCode, 200);
      } finally {
        await app.close();
      }
    } finally {
      node.close();
    }
  });

  it('writ audit verify names the mismatch between bundle_active and the last activation entry', () => {
    const h = rolledBack();
    authorizeWrite(h); // denied, recorded naming no bundle
    const report = auditFails(h);
    assert.match(report, new RegExp(`bundle_state_mismatch at ${v2Activation}: bundle_active for ${domain} in state\\.db is ${v1}, but the last activation entry \\(${v2Activation}\\) activated version 2 \\(${v2}\\)`));
  });

  it('the floor lowered too: the audit finds the decision made under v1 and the edited pointer and floor', () => {
    const h = copyHome(home);
    tamper(h, (db) => {
      db.prepare('UPDATE bundle_active SET digest = ? WHERE domain = ?').run(v1, domain);
      db.prepare('UPDATE bundle_floor SET max_version = 1 WHERE domain = ?').run(domain);
    });
    // the state is self-consistent now: only the ledger knows v2 was activated
    const d = authorizeWrite(h);
    assert.ok(d.ledgerIndex !== null, 'recorded');
    const report = auditFails(h);
    assert.match(report, new RegExp(`policy_superseded at ${d.ledgerIndex}: entry ${d.ledgerIndex}: decided under version 1 \\(${v1}\\), but the bundle activated most recently before it in ${domain} is version 2`));
    assert.match(report, new RegExp(`bundle_state_mismatch at ${v2Activation}: bundle_active for ${domain} in state\\.db is ${v1}`));
    assert.match(report, new RegExp(`bundle_state_mismatch at ${v2Activation}: bundle_floor for ${domain} in state\\.db is 1, but the highest version the ledger activated is 2`));
  });
});

describe('(b) approvals.used reset', () => {
  /** An approved approval, used once. */
  async function usedOnce(f: Fixture, node: GovernanceNode = f.node): Promise<{ id: string; allowIdx: number }> {
    const id = (await node.authorize(WRITE)).approvalId as string;
    assert.ok(id, 'approval_required opened a request');
    await decideApproval(f.ledger, f.state, id, 'approved', 'alice');
    const d = await node.authorize({ ...WRITE, approval: id });
    assert.equal(d.decision, 'allow', d.message);
    assert.deepEqual((await node.authorize({ ...WRITE, approval: id })).reasons, ['approval_invalid'], 'honest single use');
    return { id, allowIdx: d.ledgerIndex as number };
  }

  const resetUsed = (home: string, id: string, o: { alsoSingleUse?: boolean } = {}) =>
    tamper(home, (db) => {
      db.prepare('UPDATE approvals SET used = 0 WHERE id = ?').run(id);
      if (o.alsoSingleUse) db.prepare('DELETE FROM consumed_jti WHERE jti = ?').run(`approval:${id}`);
    });

  it('at run time: the ledger holds the allow that used it, so a second use is refused', async () => {
    const f = await fixture({ policyDir: APPROVE });
    try {
      const { id, allowIdx } = await usedOnce(f);
      resetUsed(f.home, id, { alsoSingleUse: true }); // every local record but the ledger
      const again = await f.node.authorize({ ...WRITE, approval: id });
      assert.equal(again.decision, 'deny');
      assert.deepEqual(again.reasons, ['approval_invalid']);
      assert.match(again.message, new RegExp(`already used by the allow at ledger entry ${allowIdx} \\(the node's state says unused`));
      assert.equal(again.writ, undefined);
    } finally {
      f.cleanup();
    }
  });

  it('where the ledger cannot answer (a fleet node): the single-use records refuse it, locally and fleet-wide', async () => {
    const f = await fixture({ policyDir: APPROVE });
    try {
      // the fleet node's evidence ledger: appends, but no approval query (its reads are a partial mirror)
      const l = f.ledger;
      const stream: Ledger = {
        append: (r) => l.append(r),
        entry: (i) => l.entry(i),
        size: () => l.size(),
        entries: (from, limit) => l.entries(from, limit),
        findByJti: (jti, type) => l.findByJti(jti, type),
        findByDecisionId: (id) => l.findByDecisionId(id),
        writ: (jti) => l.writ(jti),
        children: (jti) => l.children(jti),
      };
      const fleetWide = new Map<string, number>(); // stands in for the fleet's consumed bucket
      const shared: SingleUseStore = {
        consume: async (key, exp) => !fleetWide.has(key) && Boolean(fleetWide.set(key, exp)),
        isConsumed: async (key) => fleetWide.has(key),
      };
      const node = new GovernanceNode({ identity: f.node.identity, policy: f.node.policy, ledger: stream, state: f.state, singleUse: layeredSingleUse(stateSingleUse(f.state), shared) });
      const { id } = await usedOnce(f, node);
      resetUsed(f.home, id);
      const again = await node.authorize({ ...WRITE, approval: id });
      assert.deepEqual(again.reasons, ['approval_invalid'], again.message);
      assert.match(again.message, /already used \(its use is recorded in the single-use store/);
      resetUsed(f.home, id, { alsoSingleUse: true }); // this node's files hold no record of the use any more
      const third = await node.authorize({ ...WRITE, approval: id });
      assert.deepEqual(third.reasons, ['approval_invalid'], third.message);
      assert.equal(third.writ, undefined);
    } finally {
      f.cleanup();
    }
  });

  describe('writ audit verify', () => {
    let home: string;
    let id: string;
    let allowIdx: number;
    /** approved, not used */
    let spare: string;
    before(async () => {
      const f = await fixture({ policyDir: APPROVE });
      ({ id, allowIdx } = await usedOnce(f));
      spare = (await f.node.authorize(WRITE)).approvalId as string;
      await decideApproval(f.ledger, f.state, spare, 'approved', 'alice');
      home = fileOf(f);
      f.close();
      auditPasses(home);
    });

    /** Appends a copy of the allow that used `id` (a new decision id and jti) through the ledger API. */
    async function forgeAllow(h: string, edit: (leaf: Record<string, unknown>) => void = () => undefined): Promise<number> {
      const o = await openHome(h);
      try {
        const leaf = leafObject(o.ledger.entry(allowIdx)?.leaf ?? new Uint8Array());
        assert.equal(leaf.approval, id);
        const jti = newId();
        const w = leaf.writ as Record<string, unknown>;
        Object.assign(leaf, { id: newId(), writ: { ...w, jti, lin: { ...(w.lin as Record<string, unknown>), root: jti } } });
        edit(leaf);
        const row = expectedIndex(leaf).writ;
        assert.ok(row);
        return await o.ledger.append({ type: 'decision', leaf: encodeLeaf(leaf as LeafBase & Record<string, unknown>), decisionId: String(leaf.id), jti, writ: { ...row, decisionIndex: -1 } });
      } finally {
        o.close();
      }
    }

    const expiresOf = (h: string, a: string): string => {
      let e = '';
      tamper(h, (db) => {
        e = (db.prepare('SELECT expires FROM approvals WHERE id = ?').get(a) as { expires: string }).expires;
      });
      return e;
    };
    const re = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

    it('flags a used approval reset to unused', () => {
      const h = copyHome(home);
      resetUsed(h, id, { alsoSingleUse: true });
      assert.match(auditFails(h), new RegExp(`approval_mismatch at ${allowIdx}: approval ${id} is unused in the node's state, but the allow at entry ${allowIdx} used it`));
    });

    it('flags an approval named by a second allow', async () => {
      const h = copyHome(home);
      const second = await forgeAllow(h);
      const report = auditFails(h);
      assert.match(report, new RegExp(`approval_reused at ${second}: entry ${second} is a second allow naming approval ${id} \\(entry ${allowIdx} used it\\)`));
      assert.match(report, / 0 differ/, 'the forged allow replays the same: only the approval check sees it');
    });

    it('flags an allow made after the expiry the ledger recorded', async () => {
      const h = copyHome(home);
      const expires = expiresOf(h, spare);
      const late = new Date(Date.parse(expires) + 1000).toISOString();
      const forged = await forgeAllow(h, (leaf) => Object.assign(leaf, { approval: spare, time: late }));
      const report = auditFails(h);
      assert.match(report, new RegExp(`approval_mismatch at ${forged}: entry ${forged} used approval ${spare} at ${re(late)}, not before it expired at ${re(expires)}`));
    });

    it('flags an expiry extended in the state', () => {
      const h = copyHome(home);
      const expires = expiresOf(h, spare);
      tamper(h, (db) => db.prepare('UPDATE approvals SET expires = ? WHERE id = ?').run('2999-01-01T00:00:00.000Z', spare));
      assert.match(auditFails(h), new RegExp(`approval_mismatch at \\d+: approval ${spare} expires at 2999-01-01T00:00:00\\.000Z in the node's state, but entry \\d+ recorded ${re(expires)}`));
    });
  });
});
