/**
 * The people and tools around the shipped fleet, and the ground truth the invariants are
 * checked against. The operator signs bundles (src/policy/sign.ts) and pushes them to the
 * bundle channel as `writ policy push` does, signs revocations (src/authority/revocation.ts)
 * and puts them as `writ revoke` does; an attacker with write access to the bus puts old
 * bundles (rollback attempts), and bundles and beacons signed by a key the fleet does not
 * trust. Which bundle the shipped authority named current, and when, is recorded from its
 * bundle history (`naming`).
 */
import { signBeacon } from '../../src/authority/beacon.ts';
import type { KeyPair } from '../../src/authority/keys.ts';
import { signRevocation } from '../../src/authority/revocation.ts';
import { memoryBundleHistory, type BundleHistory } from '../../src/ledger/pg-authority-history.ts';
import { BUNDLE_KEY, kvKey, type FleetBus } from '../../src/node/fleet-bus.ts';
import type { BundleFile } from '../../src/policy/manifest.ts';
import { buildBundle } from '../../src/policy/sign.ts';
import { verifyBundle } from '../../src/policy/verify-bundle.ts';
import { sha256Hex } from '../../src/util.ts';
import { BEACON_TTL_MS, DOMAIN, EPOCH_MS, type World } from './world.ts';

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

export type BundleWhy = 'publish' | 'resend' | 'rollback' | 'forged';

export interface PublishedBundle {
  version: number;
  digest: string;
  bytes: Uint8Array;
  /** wall-clock ms */
  expires: number;
}

/** When the shipped authority named a version current (simulated time), and until when. */
export interface Naming {
  version: number;
  digest: string;
  from: number;
  to: number | null;
}

export interface Revocation {
  what: 'principal' | 'writ';
  value: string;
  at: number;
  /** the revocations channel's revision it got (the revocation-list version), once the put was applied */
  revision: number | null;
  /** step at which the authority's view first held, from every node, a status report applying it */
  fleetAckedStep: number | null;
}

export class SimOperator {
  private readonly world: World;
  private readonly key: KeyPair;
  private readonly rogue: KeyPair;
  readonly bundles: PublishedBundle[] = [];
  readonly revocations: Revocation[] = [];
  readonly naming: Naming[] = [];
  /** what each bundle put on the bus is, by the SHA-256 of its bytes */
  private readonly byHash = new Map<string, { version: number; why: BundleWhy }>();
  private readonly forgedBeacons = new Set<string>();
  private beaconSeq = 0;

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

  /** what a bundle delivered to a node is: published, a rollback, a forgery */
  identify(bytes: Uint8Array): { version: number; why: BundleWhy } | null {
    return this.byHash.get(sha256Hex(bytes)) ?? null;
  }

  isForgedBeacon(jws: string): boolean {
    return this.forgedBeacons.has(jws);
  }

  /** The authority's bundle history, recording when each version was named (ground truth of invariant 1e). */
  history(): BundleHistory {
    const inner = memoryBundleHistory();
    return {
      ...inner,
      record: async (b) => {
        await inner.record(b);
        const prev = this.naming.at(-1);
        if (prev && prev.to === null) prev.to = this.world.now();
        this.naming.push({ version: b.version, digest: b.digest, from: this.world.now(), to: null });
        this.world.trace(`authority names v${b.version}`);
      },
    };
  }

  /** Signs the next version and pushes it (writ policy push). */
  async publish(bus: FleetBus, lifetimeMs: number): Promise<PublishedBundle> {
    const now = this.world.now();
    const version = this.bundles.length + 1;
    const created = new Date(EPOCH_MS + now - 1000);
    const expires = new Date(EPOCH_MS + now + lifetimeMs);
    const bytes = bundleBytes(await buildBundle(policyFiles(version), { domain: DOMAIN, version, created, expires }, [{ kid: this.key.kid, key: this.key.privateKey }]));
    const { digest } = await verifyBundle(bytes, { trust: { keys: [this.key.publicJwk], threshold: 1 }, now: created, domain: DOMAIN });
    const b: PublishedBundle = { version, digest, bytes, expires: expires.getTime() };
    this.bundles.push(b);
    this.byHash.set(sha256Hex(bytes), { version, why: 'publish' });
    await this.push(bus, bytes, `v${version}`);
    return b;
  }

  /** Puts bundle bytes in the bundle channel; a lost put is the operator's to retry (the operator loop re-puts). */
  async push(bus: FleetBus, bytes: Uint8Array, what: string): Promise<void> {
    await (await bus.bundles(DOMAIN)).put(BUNDLE_KEY, bytes).catch(() => this.world.trace(`operator: push of ${what} got no answer`));
  }

  /** An older version put again by someone with write access to the bus. */
  async rollback(bus: FleetBus, version: number): Promise<void> {
    const old = this.byVersion(version);
    if (!old) return;
    this.byHash.set(sha256Hex(old.bytes), { version, why: 'rollback' });
    await this.push(bus, old.bytes, `old v${version}`);
  }

  /** A well-formed bundle far ahead of the current version, signed by a key the fleet does not trust. */
  async forgeBundle(bus: FleetBus): Promise<void> {
    const now = this.world.now();
    const version = this.bundles.length + 10;
    const file = await buildBundle(policyFiles(version), { domain: DOMAIN, version, created: new Date(EPOCH_MS + now - 1000), expires: new Date(EPOCH_MS + now + 3600_000) }, [{ kid: this.rogue.kid, key: this.rogue.privateKey }]);
    const bytes = bundleBytes(file);
    this.byHash.set(sha256Hex(bytes), { version, why: 'forged' });
    await this.push(bus, bytes, `forged v${version}`);
  }

  /** A beacon naming a far newer bundle, signed by the rogue key, put in the beacons channel. */
  async forgeBeacon(bus: FleetBus): Promise<void> {
    const iat = Math.floor((EPOCH_MS + this.world.now()) / 1000);
    const cur = this.current();
    const jws = await signBeacon({ domain: DOMAIN, seq: Number.MAX_SAFE_INTEGER - ++this.beaconSeq, iat, exp: iat + BEACON_TTL_MS / 1000, bundle: cur ? { version: cur.version + 10, digest: cur.digest } : null, revocations: { version: 0 } }, { kid: this.rogue.kid, key: this.rogue.privateKey });
    this.forgedBeacons.add(jws);
    await bus.beacons.put(kvKey(DOMAIN), jws).catch(() => undefined);
  }

  /** Signs a revocation and puts it (writ revoke); its revision is learned when the bus applies it. */
  async revoke(bus: FleetBus, what: 'principal' | 'writ', value: string): Promise<Revocation> {
    const r: Revocation = { what, value, at: this.world.now(), revision: null, fleetAckedStep: null };
    this.revocations.push(r);
    const jws = await signRevocation({ kind: what, value, reason: 'sim' }, { kid: this.key.kid, key: this.key.privateKey }, EPOCH_MS + this.world.now());
    this.pendingRevocations.set(jws, r);
    await bus.revocations.put(kvKey(what, value), jws).catch(() => this.world.trace(`operator: revocation of ${what} got no answer`));
    return r;
  }

  private readonly pendingRevocations = new Map<string, Revocation>();

  /** The bus applied a put in the revocations channel (InProcessBusServer.onPut): the revocation's revision. */
  onRevocationPut(value: Uint8Array, revision: number): void {
    const r = this.pendingRevocations.get(new TextDecoder().decode(value));
    if (r && r.revision === null) r.revision = revision;
  }
}
