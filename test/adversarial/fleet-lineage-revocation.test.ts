/**
 * Issue 11, point 8: a revoked ancestor is found across nodes. A chain W1 ← W2 ← W3 ← W4 is
 * issued on node n1; W2 is revoked fleet-wide. Node n2 never saw W1…W4 (its ledger holds only
 * its own appends), and W4 names only its parent W3 and its root W1, neither revoked: walking
 * n2's ledger from W3 finds nothing. The writ's own chain (`lin.anc`, signed by n1) names W2,
 * so n2 denies a child of W4 (parent_revoked) and refuses W4 itself (writ_revoked) — and so
 * does an executor holding only the signed revocation list.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { readConfig } from '../../src/home/config.ts';
import { RevocationListPoller, verifyWrit, WritVerificationError } from '../../src/writ/verify.ts';
import { allowedRequest, decodeClaims, READ, TestFleet, waitFor, type FleetNodeProc } from '../fleet-harness.ts';

describe('fleet: a revoked ancestor is found on a node that never saw it', { timeout: 180_000 }, () => {
  let f: TestFleet;
  let n1: FleetNodeProc;
  let n2: FleetNodeProc;
  before(async () => {
    f = await TestFleet.start({ nodes: 2 });
    [n1, n2] = f.nodes as [FleetNodeProc, FleetNodeProc];
  });
  after(async () => {
    await f?.close();
  });

  it('W1 ← W2 ← W3 ← W4 on n1, W2 revoked: at n2 a child of W4 is parent_revoked and W4 is writ_revoked; offline too', async () => {
    const chain: string[] = [];
    for (let i = 0; i < 4; i++) {
      const d = await f.authorize(n1, { ...allowedRequest(40 + i), ...(i > 0 && { parent: chain[i - 1] as string }) });
      assert.equal(d.body.decision, 'allow', `W${i + 1}: ${JSON.stringify(d.body.reasons)}`);
      chain.push(d.body.writ as string);
    }
    const [w1, w2, w3, w4] = chain.map(decodeClaims) as [ReturnType<typeof decodeClaims>, ReturnType<typeof decodeClaims>, ReturnType<typeof decodeClaims>, ReturnType<typeof decodeClaims>];
    assert.equal(w4.lin.parent, w3.jti);
    assert.equal(w4.lin.root, w1.jti);
    assert.deepEqual(w4.lin.anc, [w3.jti, w2.jti, w1.jti], 'W4 carries its whole chain, nearest first');

    // before: n2 accepts W4 as a parent
    const ok = await f.authorize(n2, { ...allowedRequest(50), parent: chain[3] as string });
    assert.equal(ok.body.decision, 'allow', JSON.stringify(ok.body.reasons));

    await f.revoke('writ', w2.jti);
    const req = allowedRequest(51);
    const denied = await waitFor('n2 denies a child of W4', async () => {
      const d = await f.authorize(n2, { ...req, parent: chain[3] as string });
      return d.body.decision === 'deny' ? d : undefined;
    }, 10_000, 50);
    assert.deepEqual(denied.body.reasons, ['parent_revoked']);
    assert.match(JSON.stringify(denied.body), new RegExp(`ancestor writ ${w2.jti} is revoked`));
    const v = await f.verify(n2, chain[3] as string, READ, allowedRequest(43).args ?? {});
    assert.equal(v.body.reason, 'writ_revoked');

    // an executor with only the writ and the authority's list
    const poller = new RevocationListPoller({ url: `${n2.url}/v1/revocations`, keys: { keys: readConfig(f.authHome).authority.keys } });
    await waitFor('the list names W2', async () => (await poller.refresh()).has('writ', w2.jti), 10_000, 50);
    const jwks = (await (await fetch(`${n1.url}/.well-known/jwks.json`)).json()) as { keys: [] };
    await assert.rejects(
      verifyWrit(chain[3], { keys: jwks, audience: READ, args: allowedRequest(43).args, consume: false, revocationList: poller.current }),
      (e: unknown) => e instanceof WritVerificationError && e.code === 'writ_revoked' && e.message.includes(w2.jti),
    );
  });
});
