import { once } from 'node:events';
import net from 'node:net';
import { NATS_URL } from './test-service-urls.ts';

/**
 * A TCP proxy in front of NATS for one node. partition() destroys every connection
 * through it and refuses new ones until heal(): the node is cut off from NATS while
 * NATS itself (shared by everything else on this machine) keeps running.
 */
export class NatsProxy {
  private readonly server: net.Server;
  private readonly sockets = new Set<net.Socket>();
  private cut = false;
  port = 0;

  constructor(target = new URL(NATS_URL.replace(/^nats:/, 'http:'))) {
    const host = target.hostname;
    const port = Number(target.port || 4222);
    this.server = net.createServer((client) => {
      if (this.cut) {
        client.destroy();
        return;
      }
      const upstream = net.connect(port, host);
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.setNoDelay(true);
        s.on('error', () => undefined);
        s.on('close', () => {
          this.sockets.delete(s);
          client.destroy();
          upstream.destroy();
        });
      }
      client.pipe(upstream);
      upstream.pipe(client);
    });
  }

  get url(): string {
    return `nats://127.0.0.1:${this.port}`;
  }

  async listen(): Promise<void> {
    this.server.listen(0, '127.0.0.1');
    await once(this.server, 'listening');
    this.port = (this.server.address() as net.AddressInfo).port;
  }

  partition(): void {
    this.cut = true;
    for (const s of this.sockets) s.destroy();
  }

  heal(): void {
    this.cut = false;
  }

  async close(): Promise<void> {
    this.partition();
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}
