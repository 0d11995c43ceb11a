/**
 * node bench/kv-watch-reference.ts <nats url> <bucket>
 *
 * The floor of the revocation measurement (bench/propagation.ts): a bare NATS KV watch of
 * the revocations bucket in a process of its own, with nothing of Writ in it — no
 * verification, no state, no decisions. It prints `ready` once watching, then one line per
 * entry delivered, in the format of a node's WRIT_TRACE_REVOCATIONS trace:
 *   revocation <revision> received at <ms since the epoch> applied at <the same>
 * Beside the nodes in the same run, it tells how much of a node's delay is NATS's push and
 * this machine's scheduling, and how much the node's own.
 */
import { connect } from '@nats-io/transport-node';
import { Kvm } from '@nats-io/kv';

const [url, bucket] = process.argv.slice(2);
if (!url || !bucket) throw new Error('usage: node bench/kv-watch-reference.ts <nats url> <bucket>');
const nc = await connect({ servers: url, name: 'writ-bench-reference' });
// open, never create: the fleet made the bucket
const kv = await new Kvm(nc).open(bucket);
const w = await kv.watch({});
process.stdout.write('ready\n');
for await (const e of w) {
  const at = (performance.timeOrigin + performance.now()).toFixed(3);
  if (e.operation === 'PUT') process.stdout.write(`revocation ${e.revision} received at ${at} applied at ${at}\n`);
}
