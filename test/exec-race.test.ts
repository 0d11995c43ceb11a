/**
 * `writ exec` against a binary swapped under its path while it is being decided: the file
 * is opened once, hashed and executed through that descriptor, so a swap by rename can
 * never run the other binary under the allow. And a binary anyone may write to is refused.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileDigest, governedExec } from '../src/enforce/exec.ts';
import { fixture, policyFolder, tempDir } from './helpers.ts';

describe('writ exec: the binary that runs is the binary that was decided', () => {
  it('a binary renamed into place during the decision never runs under the allow', { timeout: 120_000 }, async () => {
    const dir = tempDir('writ-exec-race-');
    const evilLog = join(dir, 'evil.log');
    writeFileSync(join(dir, 'good.sh'), '#!/bin/sh\nexit 0\n', { mode: 0o755 });
    writeFileSync(join(dir, 'evil.sh'), `#!/bin/sh\necho EVIL >> '${evilLog}'\nexit 0\n`, { mode: 0o755 });
    copyFileSync(join(dir, 'good.sh'), join(dir, 'tool'));
    chmodSync(join(dir, 'tool'), 0o755);
    const good = fileDigest(join(dir, 'good.sh'));
    const f = await fixture({ policyDir: policyFolder({ 'p.cedar': `@id("only-good") permit (principal, action == Action::"exec", resource) when { context.attestation.binaryDigest == "${good}" };` }) });
    // renames good and evil into place, as fast as it can
    const swapper = spawn(process.execPath, ['-e', `
      const fs = require('node:fs'); const d = ${JSON.stringify(dir)};
      for (;;) { for (const s of ['good.sh', 'evil.sh']) { try { fs.copyFileSync(d + '/' + s, d + '/t.tmp'); fs.chmodSync(d + '/t.tmp', 0o755); fs.renameSync(d + '/t.tmp', d + '/tool'); } catch {} } }`], { stdio: 'ignore' });
    try {
      let allowed = 0;
      for (let i = 0; i < 150; i++) {
        const r = await governedExec({ node: f.node, ledger: f.ledger, principal: 'Agent::"a1"', command: join(dir, 'tool'), args: [], stdio: 'ignore', log: () => undefined });
        if (r.decision === 'allow' && r.reason === null) allowed++;
      }
      assert.ok(allowed > 0, 'the good binary was allowed at times');
      assert.equal(existsSync(evilLog) ? readFileSync(evilLog, 'utf8') : '', '', 'the evil binary never ran under an allow');
    } finally {
      swapper.kill('SIGKILL');
      f.cleanup();
    }
  });

  it('a binary anyone may write to is refused (attestation_mismatch) and does not run', async () => {
    const dir = tempDir('writ-exec-ww-');
    const ran = join(dir, 'ran');
    const tool = join(dir, 'tool');
    writeFileSync(tool, `#!/bin/sh\ntouch '${ran}'\n`);
    chmodSync(tool, 0o777);
    const f = await fixture({ policyDir: policyFolder({ 'p.cedar': 'permit (principal, action == Action::"exec", resource);' }) });
    try {
      const r = await governedExec({ node: f.node, ledger: f.ledger, principal: 'Agent::"a1"', command: tool, args: [], stdio: 'ignore', log: () => undefined });
      assert.deepEqual([r.decision, r.reason], ['deny', 'attestation_mismatch']);
      assert.equal(existsSync(ran), false);
    } finally {
      f.cleanup();
    }
  });
});
