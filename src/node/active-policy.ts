/**
 * The node's active bundle: activation (verify → anti-rollback → compile → evidence
 * → persist → swap) and restoring it on start. A bundle that fails any step leaves
 * the active one exactly as it was.
 */
import { encodeLeaf, LEAF_VERSION } from '../ledger/leaf.ts';
import type { Ledger } from '../ledger/ledger.ts';
import { PolicyEngine } from '../policy/engine.ts';
import type { VerifiedBundle } from '../policy/manifest.ts';
import { PolicySourceError } from '../policy/source.ts';
import { verifyBundle, type AuthorityTrust } from '../policy/verify-bundle.ts';
import { BundleError, DenyError } from '../reasons.ts';
import { systemClock } from '../clock.ts';
import { RollbackError, type BundleStore, type RevocationReader } from './state.ts';

/** What the active policy needs of the node's state: the bundles, and whether a version was revoked. */
export type PolicyState = BundleStore & Pick<RevocationReader, 'isRevoked'>;

export interface ActiveBundle {
  bundle: VerifiedBundle;
  engine: PolicyEngine;
}

export interface PolicyRef {
  domain: string;
  version: number;
  digest: string;
}

export function policyRef(b: VerifiedBundle): PolicyRef {
  return { domain: b.manifest.domain, version: b.manifest.version, digest: b.digest };
}

function compile(bundle: VerifiedBundle): PolicyEngine {
  try {
    return PolicyEngine.fromFiles(bundle.files);
  } catch (err) {
    const detail = err instanceof PolicySourceError ? err.message : String(err);
    throw new BundleError('bundle_policy_invalid', `bundle policies do not compile:\n${detail}`);
  }
}

function rollback(why: string): DenyError {
  return new DenyError('bundle_rollback', `bundle_rollback: ${why}: state.db was rolled back or edited; every decision is denied until a bundle above the floor is activated (writ audit verify shows what changed)`);
}

/**
 * The anti-rollback floor, applied to what the state says is active: activation raises the
 * floor to the activated version and points at it in one transaction, so the active bundle's
 * version is always exactly the floor. An older bundle named active (bundle_active pointed
 * back at a superseded one) would decide under a policy the authority replaced; a floor below
 * the active version means the floor itself was lowered. Either way nothing is decided.
 * A DenyError, so that every decision (node.ts) denies with this code and /readyz says why.
 */
function checkFloor(b: VerifiedBundle, floor: number): void {
  const v = b.manifest.version;
  if (v < floor) throw rollback(`the active bundle named in state.db is version ${v} (${b.digest}), below version ${floor}, the highest ever activated here`);
  if (v > floor) throw rollback(`the anti-rollback floor in state.db (${floor}) is below the active bundle's version ${v} (${b.digest})`);
}

export class ActivePolicy {
  private current: ActiveBundle | null = null;
  private readonly deps: { state: PolicyState; ledger: Ledger; trust: AuthorityTrust; domain: string; now: () => Date };

  constructor(deps: { state: PolicyState; ledger: Ledger; trust: AuthorityTrust; domain: string; now: () => Date }) {
    this.deps = deps;
  }

  get active(): ActiveBundle | null {
    return this.current;
  }

  private checkedAt = -Infinity;

  /**
   * Loads the persisted active bundle if it changed (another process may have activated
   * one). `maxAgeMs` lets the hot path skip the check if it looked that recently;
   * activations made through this object are seen at once either way.
   */
  refresh(o: { maxAgeMs?: number } = {}): Promise<void> {
    // Concurrent callers share one load: none may see "no bundle" while another is loading it.
    if (this.loading) return this.loading;
    const t = performance.now();
    // A failed load stays failed until a load succeeds: the hot path must not decide under
    // the bundle in memory for the next maxAgeMs after the state was found rolled back.
    if (o.maxAgeMs !== undefined && t - this.checkedAt < o.maxAgeMs) return this.failure ? Promise.reject(this.failure) : Promise.resolve();
    this.loading = this.load()
      .then(
        () => {
          this.failure = null;
        },
        (err: unknown) => {
          this.failure = err instanceof Error ? err : new Error(String(err));
          throw this.failure;
        },
      )
      .finally(() => {
        this.checkedAt = t;
        this.loading = null;
      });
    return this.loading;
  }

  private loading: Promise<void> | null = null;
  private failure: Error | null = null;

  private async load(): Promise<void> {
    const { state, domain } = this.deps;
    // read together: an activation by another process never falls between the two
    const { digest, floor } = state.activeWithFloor(domain);
    if (digest === null) {
      // activation writes the pointer and the floor together: a floor without a pointer is an edited state
      if (floor > 0) throw rollback(`state.db names no active bundle for ${domain}, though version ${floor} was activated here`);
      return;
    }
    if (this.current && digest === this.current.bundle.digest) {
      checkFloor(this.current.bundle, floor);
      return;
    }
    const stored = state.bundle(digest);
    if (!stored) throw new BundleError('bundle_malformed', `active bundle ${digest} is missing from the store`);
    // Signatures are re-checked against today's pinned keys; expiry is judged per decision.
    const bundle = await verifyBundle(stored.bytes, { trust: this.deps.trust, now: this.deps.now(), domain, checkExpiry: false });
    if (bundle.digest !== digest) throw new BundleError('bundle_file_mismatch', 'stored bundle does not match its digest');
    checkFloor(bundle, floor); // the signed manifest's version, not the store's version column
    this.swap({ bundle, engine: compile(bundle) });
  }

  /** Activations run one at a time, in arrival order (see activateNow). */
  private activations: Promise<unknown> = Promise.resolve();

  activate(bytes: Uint8Array): Promise<{ bundle: VerifiedBundle; ledgerIndex: number }> {
    const run = this.activations.then(() => this.activateNow(bytes));
    this.activations = run.catch(() => undefined);
    return run;
  }

  /**
   * Verify → anti-rollback → compile → record → persist → swap. Evidence comes first: a
   * bundle is persisted as active (where refresh() and other processes see it) only
   * after its activation leaf is durable; if recording fails, nothing changed. The
   * floor is re-checked inside the persisting transaction, against other processes.
   */
  private async activateNow(bytes: Uint8Array): Promise<{ bundle: VerifiedBundle; ledgerIndex: number }> {
    const { state, ledger, trust, domain, now } = this.deps;
    const bundle = await verifyBundle(bytes, { trust, now: now(), domain });
    const floor = state.maxActivatedVersion(domain);
    if (bundle.manifest.version <= floor) {
      throw new BundleError('bundle_rollback', `bundle version ${bundle.manifest.version} is not above ${floor}, the highest ever activated here`);
    }
    if (state.isRevoked('bundle', String(bundle.manifest.version))) {
      throw new BundleError('bundle_revoked', `bundle version ${bundle.manifest.version} is revoked`);
    }
    const engine = compile(bundle);
    const leaf = encodeLeaf({
      type: 'bundle_activation',
      v: LEAF_VERSION,
      time: now().toISOString(),
      policy: policyRef(bundle),
      signers: bundle.signers,
      expires: bundle.manifest.expires,
      files: bundle.manifest.files,
    });
    let ledgerIndex: number;
    try {
      ledgerIndex = await ledger.append({ type: 'bundle_activation', leaf });
    } catch (err) {
      engine.dispose();
      throw new BundleError('ledger_append_failed', `the activation could not be recorded (${String(err)}); the previous bundle stays active`);
    }
    try {
      state.activateBundle({ digest: bundle.digest, domain, version: bundle.manifest.version, bytes });
    } catch (err) {
      engine.dispose();
      // another process activated a version at least as high meanwhile: its activation stands
      if (err instanceof RollbackError) throw new BundleError('bundle_rollback', err.message);
      throw err;
    }
    this.swap({ bundle, engine });
    this.failure = null; // the pointer and the floor were just written together: consistent again
    return { bundle, ledgerIndex };
  }

  /** Never moves to an older version than the one in memory (a late load of an old pointer). */
  private swap(next: ActiveBundle): void {
    const previous = this.current;
    if (previous && previous.bundle.manifest.version > next.bundle.manifest.version) {
      next.engine.dispose();
      return;
    }
    this.current = next;
    if (previous !== next) previous?.engine.dispose();
  }
}

/** A recorded bundle, compiled for replay (signatures re-checked; expiry ignored: it was valid then). */
export async function loadRecordedBundle(state: Pick<BundleStore, 'bundle'>, digest: string, trust: AuthorityTrust, now = new Date(systemClock.now())): Promise<ActiveBundle> {
  const stored = state.bundle(digest);
  if (!stored) throw new BundleError('bundle_malformed', `recorded bundle ${digest} is not in the store`);
  const bundle = await verifyBundle(stored.bytes, { trust, now, checkExpiry: false });
  if (bundle.digest !== digest) throw new BundleError('bundle_file_mismatch', `stored bundle ${digest} does not match its digest`);
  return { bundle, engine: compile(bundle) };
}
