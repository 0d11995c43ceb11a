/**
 * The deliberately broken copies the negative tests run (world.ts MUTATIONS), each of one
 * piece of the shipped wiring, to show that the simulation catches what it is meant to:
 * a copy that passed would mean the invariant is not really checked.
 */
import '../../src/ledger/node-crypto.ts';
import { CheckpointSigner } from '../../src/ledger/checkpoint-signer.ts';
import type { AppendRequest, Ledger, LedgerEntry, WritIndexRow } from '../../src/ledger/ledger.ts';
import type { LeafType } from '../../src/ledger/leaf.ts';
import type { CheckpointState, CheckpointStep } from '../../src/ledger/log-store.ts';
import { BusLedger } from '../../src/node/bus-ledger.ts';
import type { FleetStep } from '../../src/node/fleet-handlers.ts';
import { verifyRevocation } from '../../src/node/revocation-message.ts';
import { formatCheckpoint } from '../../src/tlog/checkpoint.ts';
import { treeHash } from '../../src/tlog/merkle.ts';
import { signNote, type NoteSigner, type NoteVerifier } from '../../src/tlog/note.ts';

/** applied-before-revoked: node/fleet-handlers.ts applyRevocation, but it counts the revocation applied and never applies it. */
export const countWithoutRevoking: FleetStep = async (ctx, e) => {
  await verifyRevocation(new TextDecoder().decode(e.value), ctx.authorityKeys);
  ctx.cursor.applied = Math.max(ctx.cursor.applied, e.revision);
};

/** writ-before-evidence: node/bus-ledger.ts, but an append whose acknowledgement did not come is taken as done at the next index. */
export class OptimisticLedger implements Ledger {
  private readonly inner: BusLedger;
  constructor(inner: BusLedger) {
    this.inner = inner;
  }
  async append(req: AppendRequest): Promise<number> {
    try {
      return await this.inner.append(req);
    } catch {
      return this.inner.size(); // "it probably went through"
    }
  }
  entry(index: number): LedgerEntry | null {
    return this.inner.entry(index);
  }
  size(): number {
    return this.inner.size();
  }
  entries(from: number, limit: number): LedgerEntry[] {
    return this.inner.entries(from, limit);
  }
  findByJti(jti: string, type?: LeafType): LedgerEntry[] {
    return this.inner.findByJti(jti, type);
  }
  findByDecisionId(id: string): LedgerEntry | null {
    return this.inner.findByDecisionId(id);
  }
  writ(jti: string): WritIndexRow | null {
    return this.inner.writ(jti);
  }
  children(jti: string): WritIndexRow[] {
    return this.inner.children(jti);
  }
}

/** lossy-disk-no-proof: ledger/checkpoint-signer.ts, but it signs whatever tree it holds, without proving it extends the last checkpoint. */
export class UnprovenCheckpointSigner extends CheckpointSigner {
  private readonly noteSigner: NoteSigner;
  constructor(o: { origin: string; verifier: NoteVerifier; signer: NoteSigner }) {
    super(o);
    this.noteSigner = o.signer;
  }
  override next(s: CheckpointState): CheckpointStep {
    if (s.size === 0) return null;
    if (s.last && s.last.size === s.size) return { keep: s.last };
    const root = treeHash(s.size, s.hashes);
    return { store: { size: s.size, root, note: signNote(formatCheckpoint({ origin: this.origin, size: s.size, rootHash: root }), [this.noteSigner]) } };
  }
}
