/**
 * Fleet points not covered elsewhere: an execution running under a writ on a fleet
 * node is terminated when a revocation is pushed (issue 5, point 6), and writs of one
 * domain are refused by another domain's enforcement point unless its policy accepts
 * them (point 8).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { openHome } from '../src/home/open.ts';
import { WritVerificationError } from '../src/writ/verify.ts';
import { NATS_URL, TestFleet, waitFor } from './fleet-harness.ts';
import { bundleBytes, CLI, DEMO_POLICY, fixture, policyFolder } from './helpers.ts';
import { runsUnder } from './proc-tree.ts';

describe('fleet: executions and domains', { timeout: 120_000 }, () => {
  it('a revocation pushed to the fleet terminates a running `writ exec --nats` and records it', async () => {
    const f = await TestFleet.start({ nodes: 1, initialVersion: 1, beaconInterval: '250ms', beaconTtl: '2s' });
    try {
      const home = join(f.dir, 'x1');
      const before = await f.streamLastSeq();
      await f.cliOk(['fleet', 'add-node', '--home', f.authHome, '--node-id', 'x1', '--out', home]);
      const child = spawn(process.execPath, [CLI, 'exec', '--home', home, '--fleet', f.name, '--nats', NATS_URL, '--principal', 'Agent::"a1"', '--grace', '1s', '--', '/usr/bin/sleep', '30'], {
        env: f.env,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stderr = '';
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
      // running: the exec node's allow (and its activation) reached the evidence stream
      await waitFor('the exec decision in the evidence stream', async () => (await f.streamLastSeq()) >= before + 2, 10_000);
      // and the command itself runs under writ exec (not only decided)
      await waitFor('/usr/bin/sleep 30 running under writ exec', () => runsUnder(child.pid as number, ['/usr/bin/sleep', '30']), 10_000);
      assert.equal(child.exitCode, null, `still running (stderr: ${stderr})`);
      const started = performance.now();
      await f.revoke('principal', 'Agent::"a1"');
      const code = await exited;
      const ms = performance.now() - started;
      assert.equal(code, 143, `terminated by SIGTERM (stderr: ${stderr})`);
      assert.ok(ms < 5000, `terminated within ${Math.round(ms)} ms`);
      assert.match(stderr, /terminating \/usr\/bin\/sleep .*principal Agent::"a1" is revoked/);
    } finally {
      await f.close();
    }
  });

  it("a writ of another domain is refused (writ_domain_mismatch) unless this domain's policy accepts it", async () => {
    const eu = await fixture(); // domain "default"
    const usHome = join(eu.home, '..', `${eu.home.split('/').at(-1)}-us`);
    const r = spawn(process.execPath, [CLI, 'fleet', 'add-node', '--home', eu.home, '--node-id', 'us1', '--domain', 'us', '--out', usHome]);
    assert.equal(await new Promise((res) => r.once('exit', res)), 0);
    const us = await openHome(usHome);
    try {
      us.jwks.keys.push(...eu.jwks.keys); // the us node trusts the eu node's certified key
      await us.node.policy.activate(bundleBytes(await eu.sign(DEMO_POLICY, { version: 1, domain: 'us' })));
      const args = { path: '/srv/report' };
      const mint = async () => (await eu.node.authorize({ principal: 'Agent::"a1"', action: 'Action::"tools/call"', resource: 'Tool::"fs/read"', args })).writ as string;
      const verify = async (writ: string) => us.node.verify(writ, { audience: 'Tool::"fs/read"', args, consume: true });
      await assert.rejects(verify(await mint()), (e: unknown) => e instanceof WritVerificationError && e.code === 'writ_domain_mismatch');
      const accepting = policyFolder({
        'policy.cedar': '@id("accept-eu")\npermit (principal == Domain::"default", action == Action::"accept-writ", resource == Domain::"us");\n',
      });
      await us.node.policy.activate(bundleBytes(await eu.sign(accepting, { version: 2, domain: 'us' })));
      const { claims } = await verify(await mint());
      assert.equal(claims.pol.domain, 'default');
    } finally {
      us.close();
      eu.cleanup();
    }
  });
});
