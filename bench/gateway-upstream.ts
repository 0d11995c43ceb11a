/**
 * The upstream of bench/gateway.ts, in its own process: one handler on two loopback listeners,
 * `plain` (nginx straight to it) and `guarded` (writ/http-guard verifies the X-Writ first).
 *   node bench/gateway-upstream.ts <writ-jwks.json> <audience>
 * Prints {"plain":<port>,"guarded":<port>} on stdout; answers {"stats"} IPC messages with counts.
 */
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { JSONWebKeySet } from 'jose';
import { guardNodeHandler } from '../src/writ/http-guard-node.ts';

const [jwksFile, audience] = process.argv.slice(2);
const keys = JSON.parse(readFileSync(jwksFile ?? '', 'utf8')) as JSONWebKeySet;
const counts = { plain: 0, verified: 0, refused: 0 };

const handler = (_req: IncomingMessage, res: ServerResponse) => {
  res.statusCode = 200;
  res.setHeader('content-type', 'text/plain');
  res.end('order 7\n');
};
const guard = guardNodeHandler((req: IncomingMessage, res: ServerResponse) => {
  counts.verified++;
  handler(req, res);
}, { keys, audience: audience ?? '' });

const plain = createServer((req, res) => {
  counts.plain++;
  handler(req, res);
});
const guarded = createServer((req, res) => {
  res.once('finish', () => {
    if (res.statusCode === 403) counts.refused++;
  });
  void guard(req, res);
});
const listen = (s: ReturnType<typeof createServer>) => new Promise<number>((r) => s.listen(0, '127.0.0.1', () => r((s.address() as AddressInfo).port)));
const ports = { plain: await listen(plain), guarded: await listen(guarded) };
process.on('message', () => process.send?.(counts));
process.once('disconnect', () => process.exit(0));
// exit, not die, on the bench's kill: a --cpu-prof profile (WRIT_BENCH_UPSTREAM_FLAGS) is written at exit
process.once('SIGTERM', () => process.exit(0));
process.stdout.write(`${JSON.stringify(ports)}\n`);
