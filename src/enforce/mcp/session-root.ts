/**
 * An MCP session's lineage root (docs/mcp.md): a decision `Action::"mcp/session"` on
 * `Server::"<server>"`, whose writ is the parent of each call of the session. It is renewed
 * only when it nears expiry; every root the session had is kept, and revoking any of them
 * ends the session: its later calls are denied (parent_revoked), never re-rooted.
 */
import type { Decision, GovernanceNode } from '../../node/node.ts';
import type { WritClaims } from '../../writ/claims.ts';
import { mcpAudience } from './names.ts';

export interface SessionRootOptions {
  node: GovernanceNode;
  principal: string;
  session: string;
  /** the upstream's name as known now ('unknown' before it is) */
  server: () => string;
}

/** A root renewed when less than this is left of it (seconds), so a call never gets a parent about to expire. */
const RENEW_BEFORE_EXPIRY_S = 30;

export class SessionRoot {
  private readonly o: SessionRootOptions;
  private current: { writ: string; exp: number } | null = null;
  private pending: Promise<string | Decision> | null = null;
  /** every root this session had (renewed near expiry): revoking any of them ends the session */
  private readonly roots: { writ: string; claims: WritClaims }[] = [];

  constructor(o: SessionRootOptions) {
    this.o = o;
  }

  /**
   * The writ a call of this session is the child of; a revoked root (the call is then denied
   * parent_revoked); or the decision that refused the session.
   */
  writ(): Promise<string | Decision> {
    // one at a time: concurrent first calls share one root instead of each minting its own
    return (this.pending ??= this.renew().finally(() => (this.pending = null)));
  }

  /** A root of this session that is revoked, if any: revoking one ends the session. */
  revoked(): string | null {
    return this.roots.find((r) => this.o.node.revocationOf(r.claims) !== null)?.writ ?? null;
  }

  private async renew(): Promise<string | Decision> {
    const now = Math.floor(Date.now() / 1000);
    if (this.current) {
      const revoked = this.revoked();
      if (revoked !== null) return revoked; // the child request is denied parent_revoked
      if (this.current.exp - now > RENEW_BEFORE_EXPIRY_S) return this.current.writ;
    }
    const server = this.o.server();
    const d = await this.o.node.authorize({
      principal: this.o.principal,
      action: 'Action::"mcp/session"',
      resource: `Server::${JSON.stringify(server)}`,
      args: { session: this.o.session },
      audience: mcpAudience(server),
      ttlSeconds: this.o.node.limits.maxWritLifetimeSeconds,
      context: { mcp: { session: this.o.session, server, method: 'session' } },
    });
    if (d.decision !== 'allow' || !d.writ || !d.claims) return d;
    this.current = { writ: d.writ, exp: d.claims.exp };
    this.roots.push({ writ: d.writ, claims: d.claims });
    return d.writ;
  }
}
