/**
 * The simulated fleet: the shipped authority (authority/fleet-authority.ts), nodes
 * (node.ts) and sequencer (sequencer.ts), the operator and the attacker, all connected to
 * one shipped in-process bus (sync/in-process-bus.ts) whose network is the simulation's.
 * Processes start as tasks of the simulation: they run as far as the bus lets them.
 */
import { issueNodeCertificate, type KeyPair } from '../../src/authority/keys.ts';
import { runAuthority, type FleetAuthority } from '../../src/authority/fleet-authority.ts';
import type { FleetBus } from '../../src/node/fleet-bus.ts';
import type { FleetHandlers } from '../../src/node/fleet-handlers.ts';
import { BundleError } from '../../src/reasons.ts';
import { InProcessBusServer } from '../../src/sync/in-process-bus.ts';
import { errorMessage } from '../../src/util.ts';
import type { Checker } from './checker.ts';
import { fixedKeyPair } from './keys.ts';
import { SimNode } from './node.ts';
import { SimOperator } from './operator.ts';
import { SimSequencer } from './sequencer.ts';
import { simClock, type SimNetwork } from './sim-bus.ts';
import { BEACON_TTL_MS, BUS_TIMEOUT_MS, DOMAIN, EPOCH_MS, FLEET, type NodeId, type World } from './world.ts';

interface Keys {
  authority: KeyPair;
  rogue: KeyPair;
  nodes: KeyPair[];
}

// Fixed keys (keys.ts): the same in every thread, so a seed's trace is too.
let keysPromise: Promise<Keys> | null = null;
function keys(): Promise<Keys> {
  keysPromise ??= (async () => ({
    authority: await fixedKeyPair('authority'),
    rogue: await fixedKeyPair('rogue'),
    nodes: await Promise.all(Array.from({ length: 8 }, (_, i) => fixedKeyPair(`node-${i}`))),
  }))();
  return keysPromise;
}

export class SimFleet {
  readonly server: InProcessBusServer;
  readonly operator: SimOperator;
  readonly sequencer: SimSequencer;
  readonly nodes: SimNode[] = [];
  /** the shipped authority, once it started */
  authority: FleetAuthority | null = null;
  readonly operatorBus: FleetBus;
  readonly attackerBus: FleetBus;
  private readonly world: World;
  private readonly task: (label: string, f: () => Promise<void>) => void;
  private readonly keys: Keys;
  checker!: Checker;

  private constructor(world: World, network: SimNetwork, k: Keys, task: (label: string, f: () => Promise<void>) => void) {
    this.world = world;
    this.task = task;
    this.keys = k;
    this.server = new InProcessBusServer({ name: FLEET, clock: simClock(world, 0), network });
    this.operator = new SimOperator(world, k.authority, k.rogue);
    this.sequencer = new SimSequencer(world, this.server);
    this.operatorBus = this.server.connect('operator', { timeoutMs: BUS_TIMEOUT_MS });
    this.attackerBus = this.server.connect('attacker', { timeoutMs: BUS_TIMEOUT_MS });
    this.server.onPut = (channel, e) => {
      if (channel === 'revocations') this.operator.onRevocationPut(e.value, e.revision);
    };
  }

  static async create(world: World, network: SimNetwork, nodeCount: number, task: (label: string, f: () => Promise<void>) => void): Promise<SimFleet> {
    if (nodeCount > 8) throw new Error('sim: at most 8 nodes');
    const k = await keys();
    const f = new SimFleet(world, network, k, task);
    const authority = { kid: k.authority.kid, key: k.authority.privateKey };
    for (let i = 0; i < nodeCount; i++) {
      const key = k.nodes[i] as KeyPair;
      const id: NodeId = `n${i}`;
      // issued before the run starts, valid for a day: the node puts it in the certificates channel when it joins
      const certificate = await issueNodeCertificate({ id, domain: DOMAIN, jwk: key.publicJwk }, authority, 86_400, EPOCH_MS - 60_000);
      f.nodes.push(new SimNode({ id, world, server: f.server, key, certificate, authorityKeys: [k.authority.publicJwk], observer: { handlers: (n, shipped) => f.observe(n, shipped) } }));
    }
    return f;
  }

  /** Starts the shipped authority (a task: it runs as the bus answers). */
  startAuthority(beaconIntervalMs: number): void {
    const key = this.keys.authority;
    this.task('authority start', async () => {
      this.authority = await runAuthority({
        bus: this.server.connect('authority', { timeoutMs: BUS_TIMEOUT_MS, log: (s) => this.world.trace(s) }),
        domain: DOMAIN,
        trust: { keys: [key.publicJwk], threshold: 1 },
        signer: { kid: key.kid, key: key.privateKey },
        history: this.operator.history(),
        clock: simClock(this.world, 0),
        log: (s) => this.world.trace(s),
        beaconIntervalMs,
        beaconTtlMs: BEACON_TTL_MS,
      });
      this.world.trace('authority up');
    });
  }

  /**
   * Starts a node process. One that cannot join (its certificate put got no answer, the
   * consumed store could not be read) exits, as `writ node` does, and its supervisor
   * starts it again a second later.
   */
  startNode(n: SimNode, skewMs: number, restart: (n: SimNode) => void): void {
    this.world.trace(`${n.id} starts (skew ${skewMs} ms)`);
    this.task(`${n.id} start`, async () => {
      try {
        await n.start(skewMs, () => this.world.trace(`${n.id} joined`));
      } catch (err) {
        this.world.trace(`${n.id} exits: ${errorMessage(err)}`);
        n.crash();
        restart(n);
      }
    });
  }

  /** Observation around two shipped steps: what each activation and beacon offer did, for the checker. */
  private observe(n: SimNode, shipped: FleetHandlers): Partial<FleetHandlers> {
    return {
      applyBundle: async (ctx, e) => {
        const what = this.operator.identify(e.value) ?? { version: -1, why: 'forged' as const };
        const floorAtStart = this.checker.floor(n.id);
        try {
          await shipped.applyBundle(ctx, e);
          const v = ctx.node.policy.active?.bundle.manifest.version ?? 0;
          this.world.trace(`${n.id} activates v${v} (${what.why})`);
          this.checker.onActivated(n.id, what.why === 'forged' ? what.version : v, what.why, floorAtStart);
        } catch (err) {
          this.world.trace(`${n.id} refuses v${what.version} (${what.why}): ${err instanceof BundleError ? err.code : errorMessage(err)}`);
          if (err instanceof BundleError) this.checker.onRefused(n.id, what.version, what.why, err.code);
          throw err;
        } finally {
          if (n.up) this.checker.checkActive(n);
        }
      },
      offerBeacon: async (ctx, e) => {
        const jws = new TextDecoder().decode(e.value);
        try {
          await shipped.offerBeacon(ctx, e);
        } finally {
          if (this.operator.isForgedBeacon(jws) && n.up) this.checker.onForgedBeaconOffered(n, jws);
        }
      },
    };
  }

  node(id: NodeId): SimNode {
    const n = this.nodes.find((x) => x.id === id);
    if (!n) throw new Error(`sim: no node ${id}`);
    return n;
  }

  close(): void {
    this.authority?.stop();
    for (const n of this.nodes) n.close();
    this.sequencer.close();
  }
}
