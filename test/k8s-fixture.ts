/** Shared fixture for test/k8s-admission.test.ts: certificates made by openssl, AdmissionReview v1 bodies typed with @kubernetes/client-node, an HTTPS client, ledger leaves. */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { request } from 'node:https';
import { join } from 'node:path';
import { after, before } from 'node:test';
import type { V1Container, V1Pod, V1UserInfo } from '@kubernetes/client-node';
import { tempDir, type Fixture } from './helpers.ts';

export const DOC = readFileSync(join(import.meta.dirname, '..', 'docs', 'kubernetes.md'), 'utf8');
export const POLICY = /<!-- k8s-policy -->\n```cedar\n([\s\S]*?)```/.exec(DOC)?.[1] ?? '';
export const DIGEST = `sha256:${'ab12'.repeat(16)}`;
export const PINNED = `registry.example/web@${DIGEST}`;

export const dir = tempDir('writ-k8s-');
const openssl = (...args: string[]) => execFileSync('/usr/bin/openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
const newKey = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
before(() => {
  openssl('req', '-x509', ...newKey, '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=writ-k8s-test-ca');
  openssl('req', '-new', ...newKey, '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=writ-admission.writ-system.svc');
  execFileSync('/bin/sh', ['-c', "printf 'subjectAltName=IP:127.0.0.1,DNS:writ-admission.writ-system.svc\\nextendedKeyUsage=serverAuth\\n' > server.ext"], { cwd: dir });
  openssl('x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.pem', '-days', '2', '-extfile', 'server.ext');
  // the API server's client certificate (AdmissionConfiguration kubeconfig), and one nobody issued
  openssl('req', '-new', ...newKey, '-keyout', 'apiserver.key', '-out', 'apiserver.csr', '-subj', '/CN=kube-apiserver');
  openssl('x509', '-req', '-in', 'apiserver.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'apiserver.pem', '-days', '2');
  openssl('req', '-x509', ...newKey, '-keyout', 'rogue.key', '-out', 'rogue.pem', '-days', '2', '-subj', '/CN=kube-apiserver');
});
after(() => rmSync(dir, { recursive: true, force: true }));

/** AdmissionReview v1 as the API server sends it (the type is not in client-node: it is not an API resource). */
export interface Review<T> {
  apiVersion: 'admission.k8s.io/v1';
  kind: 'AdmissionReview';
  request: {
    uid: string;
    kind: { group: string; version: string; kind: string };
    resource: { group: string; version: string; resource: string };
    subResource?: string;
    requestKind?: { group: string; version: string; kind: string };
    requestResource?: { group: string; version: string; resource: string };
    name?: string;
    namespace?: string;
    operation: 'CREATE' | 'UPDATE' | 'DELETE' | 'CONNECT';
    userInfo: V1UserInfo;
    object?: T | null;
    oldObject?: T | null;
    dryRun?: boolean;
    options?: object | null;
  };
}
export interface Answer {
  apiVersion: string;
  kind: string;
  response: { uid: string; allowed: boolean; status?: { code: number; message: string }; patch?: string; patchType?: string; auditAnnotations?: Record<string, string> };
}

export const alice: V1UserInfo = { username: 'alice', uid: '014fbff9a07c', groups: ['system:authenticated', 'dev'], extra: { 'some-key': ['v1', 'v2'] } };
let uids = 0;
/** a fresh request uid (the API server makes one per round trip) */
export const nextUid = (): string => `u-${++uids}`;
export const container = (image: string, extra: Partial<V1Container> = {}): V1Container => ({ name: `c${uids}`, image, ...extra });
export const pod = (containers: V1Container[], spec: Partial<NonNullable<V1Pod['spec']>> = {}, name = 'web'): V1Pod => ({
  apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: 'default', labels: { app: 'web' } }, spec: { containers, ...spec },
});

/** A review of a core Pod (the documentation's example request, with a Pod as object). */
export function podReview(p: V1Pod, o: { operation?: Review<V1Pod>['request']['operation']; namespace?: string; user?: V1UserInfo; dryRun?: boolean } = {}): Review<V1Pod> {
  const namespace = o.namespace ?? 'default';
  const operation = o.operation ?? 'CREATE';
  return {
    apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview',
    request: {
      uid: `705ab4f5-6393-11e8-b7cc-42010a8000${String(++uids).padStart(2, '0')}`,
      kind: { group: '', version: 'v1', kind: 'Pod' }, resource: { group: '', version: 'v1', resource: 'pods' },
      requestKind: { group: '', version: 'v1', kind: 'Pod' }, requestResource: { group: '', version: 'v1', resource: 'pods' },
      name: p.metadata?.name ?? '', namespace, operation, userInfo: o.user ?? alice,
      object: operation === 'DELETE' ? null : { ...p, metadata: { ...p.metadata, namespace } },
      oldObject: operation === 'CREATE' ? null : p,
      dryRun: o.dryRun ?? false,
      options: { apiVersion: 'meta.k8s.io/v1', kind: operation === 'DELETE' ? 'DeleteOptions' : 'CreateOptions' },
    },
  };
}

export function post(url: string, path: string, body: unknown, contentType = 'application/json', cert?: string): Promise<{ status: number; body: Answer }> {
  const u = new URL(url);
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  const client = cert === undefined ? {} : { cert: readFileSync(join(dir, `${cert}.pem`)), key: readFileSync(join(dir, `${cert}.key`)) };
  return new Promise((resolve, reject) => {
    const req = request({ host: u.hostname, port: u.port, path, method: 'POST', agent: false, ca: readFileSync(join(dir, 'ca.pem')), ...client, headers: { 'content-type': contentType } }, (res) => {
      let t = '';
      res.setEncoding('utf8').on('data', (d: string) => (t += d));
      res.on('end', () => {
        try {
          resolve({ status: res.statusCode ?? 0, body: JSON.parse(t) as Answer });
        } catch (err) {
          reject(new Error(`not JSON (${res.statusCode}): ${t.slice(0, 200)}`, { cause: err }));
        }
      });
    });
    req.on('error', reject);
    req.end(text);
  });
}

export interface Leaf {
  id: string;
  request: { principal: string; action: string; resource: string; args: Record<string, unknown> };
  input: { context: { k8s: { dryRun: boolean; user: { groups: string[] } } } } | null;
  result: { decision: string; reasons: string[]; policies: string[] };
}
export const leaf = (f: Fixture, i: number): Leaf => {
  const e = f.ledger.entry(i);
  assert.ok(e, `ledger entry ${i}`);
  return JSON.parse(new TextDecoder().decode(e.leaf)) as Leaf;
};
