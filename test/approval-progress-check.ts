/**
 * The check both approval-progress suites run (stdio: mcp-approval-progress.test.ts, Streamable
 * HTTP: mcp-http-approval-progress.test.ts): a `get-sum` call whose policy needs a human, made
 * with a 2 s request timeout kept alive only by progress notifications, approved after 3 s.
 */
import assert from 'node:assert/strict';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import type { Progress } from '@modelcontextprotocol/sdk/types.js';
import { ok, until, writAsync } from './mcp-helpers.ts';

/** `announced()`: the approval ids the proxy has printed so far (`writ approve <id>`), in order. */
export async function approvalProgressCheck(client: Client, announced: () => string[], home: string): Promise<void> {
  const seen = announced().length;
  const progress: Progress[] = [];
  const started = Date.now();
  const call = client.callTool({ name: 'get-sum', arguments: { a: 1, b: 2 } }, undefined, { timeout: 2000, resetTimeoutOnProgress: true, onprogress: (p) => progress.push(p) });
  const id = await until('the approval request', () => announced()[seen]);
  await until('progress notifications', () => progress.length >= 3);
  assert.ok(progress.every((p) => typeof p.message === 'string' && p.message.includes(`writ approve ${id}`)), JSON.stringify(progress));
  for (let i = 1; i < progress.length; i++) assert.ok((progress[i]?.progress ?? 0) > (progress[i - 1]?.progress ?? 0), 'progress increases');
  // outlast the client's own 2 s timeout before deciding
  await new Promise((r) => setTimeout(r, Math.max(0, 3000 - (Date.now() - started))));
  ok(await writAsync(['approve', id, '--home', home, '--by', 'tester']), 'approve');
  const r = (await call) as { content: { text: string }[] };
  assert.equal(r.content[0]?.text, 'The sum of 1 and 2 is 3.');
  assert.ok(Date.now() - started > 2000, 'the call outlived the request timeout');
  const count = progress.length;
  await new Promise((r) => setTimeout(r, 600));
  assert.equal(progress.length, count, 'no progress after the call is decided');
}
