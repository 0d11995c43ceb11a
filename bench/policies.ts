/** Synthetic policy folders for the benchmarks: N policies, most of which cannot apply to a given request. */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const AGENTS = 100;

/**
 * N policies over N tools: policy i permits team (i mod 10) to call tool i when the
 * path is under /srv, every 10th is a forbid on a secret path, every 7th governs exec.
 */
export function syntheticPolicyFolder(n: number): string {
  const dir = mkdtempSync(join(tmpdir(), `writ-bench-${n}-`));
  const policies: string[] = [];
  for (let i = 0; i < n; i++) {
    const team = `Team::"t${i % 10}"`;
    if (i % 7 === 6) {
      policies.push(`@id("exec-${i}")\npermit (principal in ${team}, action == Action::"exec", resource == Binary::"/opt/bin/tool-${i}");`);
    } else if (i % 10 === 9) {
      policies.push(`@id("forbid-${i}")\nforbid (principal, action == Action::"tools/call", resource == Tool::"tool-${i}")\nwhen { context.args has path && context.args.path like "*secret*" };`);
    } else {
      policies.push(
        `@id("read-${i}")\npermit (principal in ${team}, action == Action::"tools/call", resource == Tool::"tool-${i}")\nwhen { context.args has path && context.args.path like "/srv/*" && context.lineage.depth < 3 };`,
      );
    }
  }
  writeFileSync(join(dir, 'policies.cedar'), policies.join('\n\n') + '\n');
  const entities = [];
  for (let t = 0; t < 10; t++) entities.push({ uid: { type: 'Team', id: `t${t}` }, attrs: {}, parents: [] });
  for (let a = 0; a < AGENTS; a++) entities.push({ uid: { type: 'Agent', id: `a${a}` }, attrs: { level: a % 5 }, parents: [{ type: 'Team', id: `t${a % 10}` }] });
  writeFileSync(join(dir, 'entities.json'), JSON.stringify(entities));
  return dir;
}

/** The i-th request of a benchmark run: an allowed call most of the time. */
export function request(i: number, n: number) {
  let tool = i % n;
  while (tool % 7 === 6 || tool % 10 === 9) tool = tool === 0 ? 0 : tool - 1;
  const agent = (tool % 10) + 10 * (i % 10);
  return {
    principal: `Agent::"a${agent}"`,
    action: 'Action::"tools/call"',
    resource: `Tool::"tool-${tool}"`,
    args: { path: `/srv/data/${i % 1000}.txt` },
  };
}
