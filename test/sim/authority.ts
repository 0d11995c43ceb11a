/**
 * The simulated authority: signs bundles (src/policy/sign.ts) and beacons
 * (src/authority/beacon.ts) with its key, keeps the revocation list, and tracks which
 * node acknowledged what. It is the simulation's reference clock (no skew) and the
 * ground truth the invariants are checked against: which bundle was current when.
 */
import { signBeacon } from '../../src/authority/beacon.ts';
import type { KeyPair } from '../../src/authority/keys.ts';
import type { BundleFile } from '../../src/policy/manifest.ts';
import { buildBundle } from '../../src/policy/sign.ts';
import { verifyBundle } from '../../src/policy/verify-bundle.ts';
import { BEACON_TTL_S, DOMAIN, EPOCH_MS, type NodeId, type World } from './world.ts';

const POLICY = `@id("agents-read-docs")
permit (principal is Agent, action == Action::"read", resource is Doc);

@id("no-secrets")
forbid (principal, action, resource == Doc::"secret");
`;

export function policyFiles(version: number): Map<string, Uint8Array> {
  return new Map([['policy.cedar', new TextEncoder().encode(`// bundle version ${version}\n${POLICY}`)]]);
}

export function bundleBytes(b: BundleFile): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(b));
}

export interface PublishedBundle {
  version: number;
  digest: string;
  bytes: Uint8Array;
  /** wall-clock ms */
  expires: number;
  /** simulated time it became current, and stopped being current (null: still is) */
  from: number;
  to: number | null;
}

export interface Revocation {
  r: number;
  what: 'principal' | 'writ';
  value: string;
  at: number;
  acked: Set<NodeId>;
  /** step at which the last node's ack was received: "acknowledged fleet-wide" */
  fleetAckedStep: number | null;
}

export class SimAuthority {
  private readonly world: World;
  private readonly key: KeyPair;
  private readonly rogue: KeyPair;
  readonly bundles: PublishedBundle[] = [];
  readonly revocations: Revocation[] = [];
  /** last active version each node reported */
  readonly reported = new Map<NodeId, number>();
  private seq = 0;

  constructor(world: World, key: KeyPair, rogue: KeyPair) {
    this.world = world;
    this.key = key;
    this.rogue = rogue;
  }

  current(): PublishedBundle | null {
    return this.bundles.at(-1) ?? null;
  }

  byVersion(version: number): PublishedBundle | null {
    return this.bundles[version - 1] ?? null;
  }

  async publish(lifetimeMs: number): Promise<PublishedBundle> {
    const now = this.world.now();
    const version = this.bundles.length + 1;
    const created = new Date(EPOCH_MS + now - 1000);
    const expires = new Date(EPOCH_MS + now + lifetimeMs);
    const file = await buildBundle(policyFiles(version), { domain: DOMAIN, version, created, expires }, [{ kid: this.key.kid, key: this.key.privateKey }]);
    const bytes = bundleBytes(file);
    const { digest } = await verifyBundle(bytes, { trust: { keys: [this.key.publicJwk], threshold: 1 }, now: created, domain: DOMAIN });
    const prev = this.current();
    if (prev) prev.to = now;
    const b: PublishedBundle = { version, digest, bytes, expires: expires.getTime(), from: now, to: null };
    this.bundles.push(b);
    return b;
  }

  /** A well-formed bundle far ahead of the current version, signed by a key the fleet does not trust. */
  async forge(): Promise<Uint8Array> {
    const now = this.world.now();
    const version = this.bundles.length + 10;
    const file = await buildBundle(
      policyFiles(version),
      { domain: DOMAIN, version, created: new Date(EPOCH_MS + now - 1000), expires: new Date(EPOCH_MS + now + 3600_000) },
      [{ kid: this.rogue.kid, key: this.rogue.privateKey }],
    );
    return bundleBytes(file);
  }

  /** The next beacon: strictly increasing seq, exp = now + 5 s, the current bundle and revocation-list version. */
  async beacon(forged = false): Promise<{ seq: number; jws: string }> {
    const iat = Math.floor((EPOCH_MS + this.world.now()) / 1000);
    const cur = this.current();
    const seq = forged ? this.seq + 1000 : ++this.seq;
    const claims = {
      domain: DOMAIN,
      seq,
      iat,
      exp: iat + BEACON_TTL_S,
      bundle: cur ? { version: cur.version + (forged ? 10 : 0), digest: cur.digest } : null,
      revocations: { version: forged ? 0 : this.revocations.length },
    };
    const k = forged ? this.rogue : this.key;
    return { seq, jws: await signBeacon(claims, { kid: k.kid, key: k.privateKey }) };
  }

  revoke(what: 'principal' | 'writ', value: string): Revocation {
    const r: Revocation = { r: this.revocations.length + 1, what, value, at: this.world.now(), acked: new Set(), fleetAckedStep: null };
    this.revocations.push(r);
    return r;
  }

  /** Records a node's ack; true when this ack makes the revocation acknowledged fleet-wide. */
  onAck(r: number, node: NodeId, fleetSize: number): boolean {
    const rev = this.revocations[r - 1];
    if (!rev) throw new Error(`sim: ack of unknown revocation ${r}`);
    rev.acked.add(node);
    const needed = this.world.mutation === 'early-revocation-ack' ? 1 : fleetSize;
    if (rev.fleetAckedStep === null && rev.acked.size >= needed) {
      rev.fleetAckedStep = this.world.step();
      return true;
    }
    return false;
  }
}
