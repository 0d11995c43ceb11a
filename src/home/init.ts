/** `writ init`: authority key(s), a certified node key, an admin credential and the config. */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { issueNodeCertificate, newKeyPair, writePrivateKey } from '../authority/keys.ts';
import { encodeLeaf, LEAF_VERSION } from '../ledger/leaf.ts';
import { generateKey } from '../tlog/note.ts';
import { commitBatch, LEDGER_SCHEMA, openDatabase } from '../ledger/sqlite-batch.ts';
import { DOMAIN_NAME } from '../policy/manifest.ts';
import { sha256Hex } from '../util.ts';
import { HOME_FORMAT, HomeError, paths, writeConfig, type HomeConfig } from './config.ts';

export interface InitOptions {
  home: string;
  force?: boolean;
  authorityKeys?: number;
  threshold?: number;
  nodeId?: string;
  domain?: string;
}

export interface InitResult {
  home: string;
  config: HomeConfig;
  adminToken: string;
  /** where the previous log went, when --force replaced the keys of a home that had one */
  replacedLog: string | null;
}

const NODE_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;

export async function initHome(o: InitOptions): Promise<InitResult> {
  const n = o.authorityKeys ?? 1;
  const threshold = o.threshold ?? 1;
  const nodeId = o.nodeId ?? 'node-1';
  const domain = o.domain ?? 'default';
  if (!Number.isSafeInteger(n) || n < 1 || n > 16) throw new HomeError('--authority-keys must be between 1 and 16');
  if (!Number.isSafeInteger(threshold) || threshold < 1 || threshold > n) throw new HomeError(`--threshold must be between 1 and ${n}`);
  if (!NODE_ID.test(nodeId)) throw new HomeError(`invalid node id ${JSON.stringify(nodeId)}`);
  if (!DOMAIN_NAME.test(domain)) throw new HomeError(`invalid domain ${JSON.stringify(domain)}`);
  const p = paths(o.home);
  if (!o.force && (existsSync(p.config) || existsSync(p.nodeKey) || existsSync(p.authorityKey(1)))) {
    throw new HomeError(`${o.home} already holds Writ keys; refusing to overwrite them (use --force to replace them, which invalidates every writ and bundle signed so far)`);
  }
  mkdirSync(p.keys, { recursive: true, mode: 0o700 });
  // New keys start a new log: the old one (signed by the old log key) is kept aside, intact.
  let replacedLog: string | null = null;
  if (o.force && existsSync(p.db)) {
    replacedLog = `${p.db}.replaced-${new Date().toISOString().replace(/[:.]/g, '-')}`;
    for (const suffix of ['', '-wal', '-shm']) if (existsSync(p.db + suffix)) renameSync(p.db + suffix, replacedLog + suffix);
  }

  const authority = [];
  for (let i = 1; i <= n; i++) {
    const k = await newKeyPair();
    writePrivateKey(p.authorityKey(i), k.pkcs8);
    authority.push(k);
  }
  const node = await newKeyPair();
  writePrivateKey(p.nodeKey, node.pkcs8);
  const first = authority[0] as (typeof authority)[number];
  const certificate = await issueNodeCertificate({ id: nodeId, domain, jwk: node.publicJwk }, { kid: first.kid, key: first.privateKey }, 365 * 86400);

  const adminToken = `writ_admin_${randomBytes(32).toString('base64url')}`;
  writeFileSync(p.adminToken, adminToken + '\n', { mode: 0o600 });

  const origin = `writ.local/${domain}/${nodeId}`;
  const logKey = generateKey(origin);
  writeFileSync(p.logKey, logKey.signerKey + '\n', { mode: 0o600 });

  const config: HomeConfig = {
    format: HOME_FORMAT,
    nodeId,
    domain,
    authority: { threshold, keys: authority.map((a) => a.publicJwk) },
    node: { kid: node.kid, certificate },
    admin: { tokenSha256: sha256Hex(adminToken) },
    log: { origin, verifierKey: logKey.verifierKey },
    writ: { lifetimeSeconds: 60, maxLifetimeSeconds: 300, clockSkewSeconds: 5 },
    kind: 'embedded',
  };
  writeConfig(o.home, config);
  recordKeys(p.db, config);
  return { home: o.home, config, adminToken, replacedLog };
}

/** Key changes are evidence too: every key this home now trusts or signs with gets a leaf. */
function recordKeys(dbFile: string, c: HomeConfig): void {
  const db = openDatabase(dbFile);
  try {
    db.exec(LEDGER_SCHEMA);
    const time = new Date().toISOString();
    const leaf = (body: Record<string, unknown>) => ({ type: 'key_change' as const, leaf: encodeLeaf({ type: 'key_change', v: LEAF_VERSION, time, ...body }) });
    commitBatch(db, [
      ...c.authority.keys.map((jwk) => leaf({ role: 'authority', kid: jwk.kid, jwk, threshold: c.authority.threshold })),
      leaf({ role: 'node', node: c.nodeId, domain: c.domain, kid: c.node.kid, certificate: c.node.certificate }),
      leaf({ role: 'log', origin: c.log.origin, verifierKey: c.log.verifierKey }),
    ]);
  } finally {
    db.close();
  }
}
