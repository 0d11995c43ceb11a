/**
 * The Writ side of the nginx test: a real `writ up --gate <file>` child process serving the
 * forward-auth endpoint (src/server/forward-auth.ts) that nginx's auth_request calls, over a
 * home with a policy for the upstream `orders`. Principals come from bearer JWTs of a test
 * issuer configured in the gate file (jwksFile), as an operator's IdP would sign them.
 */
import { spawn } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JSONWebKeySet } from 'jose';
import { FORWARD_AUTH_PATH } from '../src/server/forward-auth.ts';
import { CLI, fixture, policyFolder } from './helpers.ts';

/** the upstream's service name: the route's audience in the gate file, the guard's audience */
export const AUDIENCE = 'orders';
const ISSUER = 'https://idp.test.example';
const TOKEN_AUDIENCE = 'writ-gate';

export const POLICY = `
@id("alice-reads-orders")
permit (principal == User::"alice", action == Action::"http:GET", resource == Route::"orders");
@id("alice-posts-orders")
permit (principal == User::"alice", action == Action::"http:POST", resource == Route::"orders");
`;

export interface WritSide {
  port: number;
  authPath: string;
  /** the node's writ keys, as the upstream pins them */
  jwks: JSONWebKeySet;
  /** the request headers that authenticate `who` (a bearer JWT of the gate's issuer) */
  credential(who: string): Promise<Record<string, string>>;
  stop(): Promise<void>;
}

export async function startWrit(dir: string): Promise<WritSide> {
  const f = await fixture({ policyDir: policyFolder({ 'p.cedar': POLICY }) });
  const jwks = f.jwks;
  f.close(); // the home is writ up's now

  const idp = await generateKeyPair('EdDSA', { crv: 'Ed25519' });
  const idpJwk = { ...(await exportJWK(idp.publicKey)), kid: 'idp-1', alg: 'EdDSA', use: 'sig' };
  writeFileSync(join(dir, 'idp-jwks.json'), JSON.stringify({ keys: [idpJwk] }));
  const gateFile = join(dir, 'gate.json');
  writeFileSync(
    gateFile,
    JSON.stringify({
      routes: [{ name: 'orders', pathPrefix: '/orders', audience: AUDIENCE }],
      credentials: { jwt: [{ name: 'idp', issuer: ISSUER, audience: TOKEN_AUDIENCE, jwksFile: 'idp-jwks.json' }] },
    }),
  );

  const child = spawn(process.execPath, [CLI, 'up', '--home', f.home, '--port', '0', '--quiet', '--gate', gateFile], { stdio: ['ignore', 'ignore', 'pipe'] });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const url = await new Promise<string>((resolve, reject) => {
    let stderr = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`writ up --gate did not start: ${stderr}`));
    }, 20_000);
    child.stderr?.setEncoding('utf8').on('data', (s: string) => {
      stderr += s;
      const m = /listening on (http:\/\/\S+)/.exec(stderr);
      if (m?.[1]) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`writ up --gate exited (${code}) before listening: ${stderr}`));
    });
  });

  const sign = (key: CryptoKey, sub: string) =>
    new SignJWT({}).setProtectedHeader({ alg: 'EdDSA', kid: 'idp-1' }).setIssuer(ISSUER).setAudience(TOKEN_AUDIENCE).setSubject(sub).setIssuedAt().setExpirationTime('10m').sign(key);
  let stopped = false;
  return {
    port: Number(new URL(url).port),
    authPath: FORWARD_AUTH_PATH,
    jwks,
    credential: async (who) => ({ authorization: `Bearer ${await sign(idp.privateKey, who)}` }),
    async stop() {
      if (!stopped) {
        stopped = true;
        child.kill('SIGTERM');
      }
      await exited;
      rmSync(f.home, { recursive: true, force: true });
    },
  };
}
