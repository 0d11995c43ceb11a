/**
 * Issue 12, point 4: the Kubernetes admission webhook (docs/kubernetes.md) over real HTTPS,
 * certificates made by the openssl CLI, reviews typed with @kubernetes/client-node's models
 * and shaped as the Kubernetes documentation's AdmissionReview v1 examples. The policy is the
 * one docs/kubernetes.md shows (read from the page): require digests, forbid privileged,
 * restrict namespaces. The in-process server runs on a real home; the last block runs the
 * `writ k8s admission` command itself.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Server } from 'node:https';
import type { V1Container, V1CronJob, V1Deployment, V1Pod } from '@kubernetes/client-node';
import { admissionTlsOptions } from '../src/cli/k8s.ts';
import { readTlsOptions } from '../src/cli/tls-options.ts';
import { WRIT_ANNOTATION } from '../src/enforce/k8s/admission.ts';
import { POD_BEARING_KINDS, projectReview } from '../src/enforce/k8s/projection.ts';
import type { GovernanceNode } from '../src/node/node.ts';
import { replayDecisions } from '../src/node/replay.ts';
import { answerReview, createAdmissionServer } from '../src/server/admission-app.ts';
import { memoryJtiStore, verifyWrit } from '../src/writ/verify.ts';
import { CLI, fixture, policyFolder, type Fixture } from './helpers.ts';
import { ok, scratchDir, writ } from './cli-fixture.ts';
import { DIGEST, DOC, PINNED, POLICY, alice, container, dir, leaf, nextUid, pod, podReview, post, type Answer, type Leaf, type Review } from './k8s-fixture.ts';

describe('writ k8s admission: AdmissionReview v1 over HTTPS', () => {
  let f: Fixture;
  let server: Server;
  let url: string;
  const errors: unknown[] = [];
  before(async () => {
    assert.ok(POLICY.includes('k8s-require-digests'), 'the policy block of docs/kubernetes.md was found');
    f = await fixture({ policyDir: policyFolder({ 'k8s.cedar': POLICY }) });
    const https = readTlsOptions({ tlsCert: join(dir, 'server.pem'), tlsKey: join(dir, 'server.key') });
    assert.ok(https);
    server = createAdmissionServer({ node: f.node, https, mutating: true, maxBodyBytes: 256 * 1024, onError: (e) => errors.push(e) });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
    f.cleanup();
  });

  /** Posts a review to /validate and checks the answer is for its uid; returns the answer and its ledger leaf. */
  async function decide(review: Review<unknown>, path = '/validate'): Promise<{ answer: Answer['response']; leaf: Leaf }> {
    const size = f.ledger.size();
    const r = await post(url, path, review);
    assert.equal(r.status, 200, 'answers are 200s: the API server reads allowed from the body');
    assert.equal(r.body.apiVersion, 'admission.k8s.io/v1');
    assert.equal(r.body.kind, 'AdmissionReview');
    assert.equal(r.body.response.uid, review.request.uid, 'the uid is echoed');
    assert.equal(f.ledger.size(), size + 1, 'exactly one decision recorded');
    const l = leaf(f, size);
    const a = r.body.response.auditAnnotations ?? {};
    assert.equal(a['decision-id'], l.id, 'auditAnnotations carry the decision id');
    assert.equal(a['ledger-index'], String(size), 'and the ledger index');
    return { answer: r.body.response, leaf: l };
  }

  const denied = (answer: Answer['response'], reason: string, policy?: string) => {
    assert.equal(answer.allowed, false);
    assert.equal(answer.status?.code, 403);
    assert.match(answer.status?.message ?? '', new RegExp(`denied \\(${reason}\\)`));
    assert.equal(answer.auditAnnotations?.reasons, reason);
    if (policy) assert.match(answer.status?.message ?? '', new RegExp(policy));
    assert.equal(answer.patch, undefined, 'a denial has no patch');
  };

  it('a pod with a tag-only image is denied: 403, the reason and the forbidding policy', async () => {
    const { answer, leaf: l } = await decide(podReview(pod([container('nginx:1.27')])));
    denied(answer, 'policy_forbid', 'k8s-require-digests');
    assert.deepEqual(l.result.policies, ['k8s-require-digests']);
    assert.deepEqual(l.request.args.pod && (l.request.args.pod as { unpinnedImages: string[] }).unpinnedImages, ['nginx:1.27']);
  });

  it('a digest-pinned pod is allowed: uid echoed, the decision and the principal, action, resource in the ledger', async () => {
    const { answer, leaf: l } = await decide(podReview(pod([container(PINNED)])));
    assert.equal(answer.allowed, true, JSON.stringify(answer));
    assert.equal(answer.status, undefined);
    assert.equal(answer.patch, undefined, '/validate never patches');
    assert.equal(answer.auditAnnotations?.decision, 'allow');
    assert.deepEqual(l.result, { decision: 'allow', reasons: ['policy_permit'], policies: ['k8s-namespaces'], errors: [] });
    assert.equal(l.request.principal, 'K8sUser::"alice"');
    assert.equal(l.request.action, 'Action::"k8s:CREATE"');
    assert.equal(l.request.resource, 'K8sObject::"/Pod/default/web"');
    assert.deepEqual(l.input?.context.k8s.user.groups, ['system:authenticated', 'dev']);
  });

  it('a privileged container, a host namespace or a hostPath volume is denied; deleting such a pod is not', async () => {
    for (const p of [
      pod([container(PINNED), container(PINNED, { securityContext: { privileged: true } })]),
      pod([container(PINNED)], { hostPID: true }),
      pod([container(PINNED)], { volumes: [{ name: 'sock', hostPath: { path: '/var/run/docker.sock' } }] }),
      pod([container(PINNED)], { initContainers: [container(PINNED, { securityContext: { privileged: true } })] }),
    ]) denied((await decide(podReview(p))).answer, 'policy_forbid', 'k8s-forbid-privileged');
    const del = await decide(podReview(pod([container('nginx', { securityContext: { privileged: true } })]), { operation: 'DELETE' }));
    assert.equal(del.answer.allowed, true, JSON.stringify(del.answer));
    assert.equal(del.leaf.request.args.source, 'oldObject');
  });

  it('pod templates are projected: a Deployment with a privileged template and a CronJob with a tag-only image are denied', async () => {
    const deployment: V1Deployment = { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'api' }, spec: { selector: { matchLabels: { app: 'api' } }, template: { spec: { containers: [container(PINNED, { securityContext: { privileged: true } })] } } } };
    const cron: V1CronJob = { apiVersion: 'batch/v1', kind: 'CronJob', metadata: { name: 'nightly' }, spec: { schedule: '@daily', jobTemplate: { spec: { template: { spec: { containers: [container('busybox:latest')], restartPolicy: 'Never' } } } } } };
    const base = podReview(pod([]));
    const of = (obj: object, group: string, kind: string, resource: string, name: string): Review<unknown> => ({ ...base, request: { ...base.request, uid: nextUid(), kind: { group, version: 'v1', kind }, resource: { group, version: 'v1', resource }, name, object: obj } });
    const d = await decide(of(deployment, 'apps', 'Deployment', 'deployments', 'api'));
    denied(d.answer, 'policy_forbid', 'k8s-forbid-privileged');
    assert.equal(d.leaf.request.resource, 'K8sObject::"apps/Deployment/default/api"');
    denied((await decide(of(cron, 'batch', 'CronJob', 'cronjobs', 'nightly'))).answer, 'policy_forbid', 'k8s-require-digests');
    // the same Deployment unprivileged passes
    const fine = structuredClone(deployment);
    (fine.spec?.template.spec?.containers[0] as V1Container).securityContext = {};
    assert.equal((await decide(of(fine, 'apps', 'Deployment', 'deployments', 'api'))).answer.allowed, true);
  });

  it('namespaces are restricted: kube-system is no_permit; so is a user without system:authenticated', async () => {
    denied((await decide(podReview(pod([container(PINNED)]), { namespace: 'kube-system' }))).answer, 'no_permit');
    denied((await decide(podReview(pod([container(PINNED)]), { user: { username: 'system:anonymous', groups: ['system:unauthenticated'] } }))).answer, 'no_permit');
    assert.equal((await decide(podReview(pod([container(PINNED)]), { namespace: 'apps' }))).answer.allowed, true);
  });

  it('groups are parents: principal in K8sGroup::"deployers" allows a member in prod and denies a non-member; uid and extra are attributes; replayed', async () => {
    const prod = (user: typeof alice) => podReview(pod([container(PINNED)]), { namespace: 'prod', user });
    const bob = { username: 'bob', uid: 'b0b', groups: ['system:authenticated', 'deployers'], extra: { scopes: ['deploy'] } };
    const yes = await decide(prod(bob));
    assert.equal(yes.answer.allowed, true, JSON.stringify(yes.answer));
    assert.deepEqual(yes.leaf.result.policies, ['k8s-deployers-prod']);
    const pe = (yes.leaf as unknown as { v: number; input: { principalEntity: unknown } });
    assert.equal(pe.v, 2);
    assert.deepEqual(pe.input.principalEntity, { attrs: { uid: 'b0b', extra: { scopes: ['deploy'] } }, parents: [{ type: 'K8sGroup', id: 'system:authenticated' }, { type: 'K8sGroup', id: 'deployers' }] });
    denied((await decide(prod(alice))).answer, 'no_permit');
    const report = await replayDecisions(f.ledger, f.state, f.trust);
    assert.deepEqual(report.differences, [], 'decisions that depended on a group replay');
  });

  it('the documentation\'s Scale example (UPDATE of deployments/scale in my-namespace) is decided: no_permit outside the namespaces', async () => {
    const base = podReview(pod([]));
    const scale = { apiVersion: 'autoscaling/v1', kind: 'Scale', metadata: { name: 'my-deployment', namespace: 'my-namespace' }, spec: { replicas: 3 } };
    const review: Review<unknown> = { ...base, request: { ...base.request, uid: '705ab4f5-6393-11e8-b7cc-42010a800002', kind: { group: 'autoscaling', version: 'v1', kind: 'Scale' }, resource: { group: 'apps', version: 'v1', resource: 'deployments' }, subResource: 'scale', name: 'my-deployment', namespace: 'my-namespace', operation: 'UPDATE', object: scale, oldObject: { ...scale, spec: { replicas: 2 } }, options: { apiVersion: 'meta.k8s.io/v1', kind: 'UpdateOptions' } } };
    const { answer, leaf: l } = await decide(review);
    denied(answer, 'no_permit');
    assert.equal(l.request.resource, 'K8sObject::"autoscaling/Scale/my-namespace/my-deployment"');
    assert.equal(l.request.args.pod, undefined, 'a Scale has no pod facts');
  });

  it('the bounds fit the evidence: a pod of 64 containers with long digest-pinned images is allowed and recorded', async () => {
    const images = Array.from({ length: 64 }, (_, i) => container(`registry.internal.example.com/platform/team-${i}/service-with-a-long-name@${DIGEST}`, { name: `sidecar-${i}` }));
    const { answer, leaf: l } = await decide(podReview(pod(images)));
    assert.equal(answer.allowed, true, JSON.stringify(answer.status));
    assert.equal((l.request.args.pod as { containers: unknown[] }).containers.length, 64);
  });

  it('a dry run is decided and recorded, marked as such', async () => {
    const { answer, leaf: l } = await decide(podReview(pod([container(PINNED)]), { dryRun: true }));
    assert.equal(answer.allowed, true);
    assert.equal(answer.auditAnnotations?.['dry-run'], 'true');
    assert.equal(l.input?.context.k8s.dryRun, true);
  });

  it('mutating mode: the writ is added as an annotation (base64 JSONPatch); it verifies with writ/verify and binds the projection', async () => {
    const p = pod([container(PINNED)]);
    const review = podReview(p);
    const { answer, leaf: l } = await decide(review, '/mutate');
    assert.equal(answer.allowed, true);
    assert.equal(answer.patchType, 'JSONPatch');
    const patch = JSON.parse(Buffer.from(answer.patch ?? '', 'base64').toString('utf8')) as { op: string; path: string; value: Record<string, string> }[];
    assert.equal(patch.length, 1);
    assert.deepEqual([patch[0]?.op, patch[0]?.path], ['add', '/metadata/annotations']);
    const jws = patch[0]?.value[WRIT_ANNOTATION] ?? '';
    const patched: V1Pod = { ...review.request.object, metadata: { ...review.request.object?.metadata, annotations: patch[0]?.value } };
    const resource = 'K8sObject::"/Pod/default/web"';
    // the in-cluster executor re-projects the object it received (the annotation is not projected)
    const project = (obj: V1Pod) => projectReview({ kind: { group: '', version: 'v1', kind: 'Pod' }, namespace: 'default', name: 'web', operation: 'CREATE', object: obj, oldObject: null });
    const opts = { keys: f.jwks, audience: resource, expect: { action: 'Action::"k8s:CREATE"', resource } };
    const changed = structuredClone(patched);
    (changed.spec?.containers[0] as V1Container).image = 'nginx:1.27';
    await assert.rejects(verifyWrit(jws, { ...opts, args: project(changed), consume: false }), { code: 'writ_intent_mismatch' }, 'another image: the writ does not fit');
    const consume = memoryJtiStore();
    const v = await verifyWrit(jws, { ...opts, args: project(patched), consume });
    assert.equal(v.claims.sub, 'K8sUser::"alice"');
    assert.equal(v.claims.led, Number(answer.auditAnnotations?.['ledger-index']));
    assert.equal(answer.auditAnnotations?.['writ-jti'], v.claims.jti);
    assert.equal(l.result.decision, 'allow');
    await assert.rejects(verifyWrit(jws, { ...opts, args: project(patched), consume }), { code: 'writ_replayed' }, 'single use');
    // an object with annotations gets one `add` of the key; a DELETE gets no patch
    const annotated = pod([container(PINNED)]);
    annotated.metadata = { ...annotated.metadata, annotations: { team: 'web' } };
    const a2 = (await decide(podReview(annotated), '/mutate')).answer;
    const p2 = JSON.parse(Buffer.from(a2.patch ?? '', 'base64').toString('utf8')) as { path: string }[];
    assert.deepEqual(p2.map((x) => x.path), ['/metadata/annotations/writ.local~1writ']);
    assert.equal((await decide(podReview(annotated, { operation: 'DELETE' }), '/mutate')).answer.patch, undefined);
  });

  it('--ttl sets the lifetime of the writs issued', async () => {
    const r = await answerReview({ node: f.node, https: {}, ttlSeconds: 120 }, 'mutate', podReview(pod([container(PINNED)])), null);
    const value = (JSON.parse(Buffer.from(r.response.patch ?? '', 'base64').toString('utf8')) as { value: Record<string, string> }[])[0]?.value ?? {};
    const claims = JSON.parse(Buffer.from((value[WRIT_ANNOTATION] ?? '').split('.')[1] ?? '', 'base64url').toString('utf8')) as { iat: number; exp: number };
    assert.equal(claims.exp - claims.iat, 120);
  });

  it('malformed reviews are answered allowed: false with a reason and recorded, never a crash; the next review is served', async () => {
    const good = podReview(pod([container(PINNED)]));
    const cases: [string, unknown, number, RegExp, string?][] = [
      ['not JSON', '{"apiVersion": "admission.k8s.io/v1", ', 400, /not I-JSON/],
      ['a duplicate member', `{"apiVersion":"admission.k8s.io/v1","apiVersion":"x","kind":"AdmissionReview","request":{}}`, 400, /not I-JSON/],
      ['a JSON array', [], 400, /the review: expected an object/],
      ['v1beta1', { ...good, apiVersion: 'admission.k8s.io/v1beta1' }, 400, /apiVersion/, good.request.uid],
      ['no request', { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview' }, 400, /request: missing/],
      ['an unknown operation', { ...good, request: { ...good.request, operation: 'PATCH' } }, 400, /request\.operation/, good.request.uid],
      ['no userInfo', { ...good, request: { ...good.request, userInfo: undefined } }, 400, /userInfo: missing/, good.request.uid],
      ['groups not strings', { ...good, request: { ...good.request, userInfo: { username: 'x', groups: [1] } } }, 400, /groups\[0\]/, good.request.uid],
      ['a "/" in the name', { ...good, request: { ...good.request, name: 'a/b' } }, 400, /contains "\/"/, good.request.uid],
      ['privileged as a string', podReview(pod([container(PINNED, { securityContext: { privileged: 'true' as unknown as boolean } })])), 400, /securityContext\.privileged: expected a boolean/],
      ['a container without an image', podReview(pod([{ name: 'x' }])), 400, /image: expected a string/],
      ['a Pod without a spec', { ...good, request: { ...good.request, object: { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'web' } } } }, 400, /object\.spec: expected an object/, good.request.uid],
      ['65 containers', podReview(pod(Array.from({ length: 65 }, () => container(PINNED)))), 400, /more than 64 containers/],
      ['an over-long image', podReview(pod([container(`${'r'.repeat(1100)}@${DIGEST}`)])), 400, /longer than 1024/],
      ['nested 60,000 deep', `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":${'['.repeat(60_000)}${']'.repeat(60_000)}}`, 400, /request: expected an object/, ''],
      ['oversized (256 KiB limit)', { ...good, padding: 'x'.repeat(300 * 1024) }, 413, /larger than 262144 bytes/, ''],
    ];
    for (const [what, body, code, message, uid] of cases) {
      const size = f.ledger.size();
      const r = await post(url, '/validate', body);
      assert.equal(r.status, 200, what);
      assert.equal(r.body.response.allowed, false, what);
      assert.equal(r.body.response.status?.code, code, `${what}: ${JSON.stringify(r.body.response)}`);
      assert.match(r.body.response.status?.message ?? '', message, what);
      assert.match(r.body.response.status?.message ?? '', /request_invalid/, what);
      const expectedUid = uid ?? (typeof body === 'object' && body !== null && 'request' in body ? (body as Review<unknown>).request.uid : '');
      assert.equal(r.body.response.uid, expectedUid, `${what}: uid`);
      assert.equal(f.ledger.size(), size + 1, `${what}: recorded`);
      assert.deepEqual(leaf(f, size).result.reasons, ['request_invalid'], what);
    }
    const wrongType = await post(url, '/validate', good, 'text/plain');
    // not read as JSON at all, so no uid to echo (the API server always sends application/json)
    assert.deepEqual([wrongType.body.response.allowed, wrongType.body.response.status?.code, wrongType.body.response.uid], [false, 415, '']);
    assert.equal((await decide(good)).answer.allowed, true, 'the server still serves the next review');
    assert.deepEqual(errors, [], 'no handler error: every case was an answer');
  });

  it('plain HTTP is refused at the handshake: no answer, nothing recorded; other paths are not reviews', async () => {
    const size = f.ledger.size();
    const u = new URL(url);
    const outcome = await new Promise<string>((resolve) => {
      const req = httpRequest({ host: u.hostname, port: u.port, path: '/validate', method: 'POST', headers: { 'content-type': 'application/json' } }, (res) => resolve(`answered ${res.statusCode}`));
      req.on('error', (e) => resolve(`error ${(e as NodeJS.ErrnoException).code}`));
      req.end(JSON.stringify(podReview(pod([container(PINNED)]))));
    });
    assert.match(outcome, /^error /, outcome);
    assert.equal(f.ledger.size(), size);
    const r = await post(url, '/other', podReview(pod([container(PINNED)])));
    assert.equal(r.status, 404);
    assert.equal(f.ledger.size(), size);
  });
});

it('the webhook configurations of docs/kubernetes.md load as client-node types: failurePolicy Fail, sideEffects None, a timeout, v1 reviews, the CA bundle', async () => {
  const { loadAllYaml, V1MutatingWebhookConfiguration, V1ValidatingWebhookConfiguration } = await import('@kubernetes/client-node');
  const caBundle = readFileSync(join(dir, 'ca.pem')).toString('base64');
  const objects = [...DOC.matchAll(/```yaml\n([\s\S]*?)```/g)].flatMap((m) => loadAllYaml((m[1] ?? '').replaceAll('${CA_BUNDLE}', caBundle)) as object[]);
  const validating = objects.find((o) => o instanceof V1ValidatingWebhookConfiguration);
  const mutating = objects.find((o) => o instanceof V1MutatingWebhookConfiguration);
  assert.ok(validating && mutating, 'both configurations are on the page');
  for (const [w, path] of [[validating.webhooks?.[0], '/validate'], [mutating.webhooks?.[0], '/mutate']] as const) {
    assert.ok(w);
    assert.equal(w.failurePolicy, 'Fail');
    assert.equal(w.sideEffects, 'None');
    assert.ok(w.timeoutSeconds !== undefined && w.timeoutSeconds >= 1 && w.timeoutSeconds <= 30);
    assert.deepEqual(w.admissionReviewVersions, ['v1']);
    assert.equal(w.clientConfig.service?.path, path);
    assert.equal(Buffer.from(String(w.clientConfig.caBundle), 'base64').toString(), readFileSync(join(dir, 'ca.pem'), 'utf8'));
    assert.ok(w.namespaceSelector?.matchExpressions?.some((e) => e.operator === 'NotIn' && e.values?.includes('writ-system')), 'Writ\'s own namespace is not gated');
  }
  assert.equal(mutating.webhooks?.[0]?.reinvocationPolicy, 'IfNeeded');
  // every resource the validating webhook is sent is one whose pod spec the projection reads
  const kindOf: Record<string, string> = { pods: '/Pod', 'pods/ephemeralcontainers': '/Pod', podtemplates: '/PodTemplate', replicationcontrollers: '/ReplicationController', deployments: 'apps/Deployment', statefulsets: 'apps/StatefulSet', daemonsets: 'apps/DaemonSet', replicasets: 'apps/ReplicaSet', jobs: 'batch/Job', cronjobs: 'batch/CronJob' };
  for (const r of validating.webhooks?.[0]?.rules?.[0]?.resources ?? []) assert.ok(POD_BEARING_KINDS.includes(kindOf[r] ?? '?'), r);
});

it('a node that fails (authorize rejects) is an allowed: false answer with 500, never an allow', async () => {
  const broken = { authorize: () => Promise.reject(new Error('disk on fire')), deny: () => Promise.reject(new Error('disk on fire')) } as unknown as GovernanceNode;
  const errors: unknown[] = [];
  const review = podReview(pod([container(PINNED)]));
  const r = await answerReview({ node: broken, https: {}, onError: (e) => errors.push(e) }, 'validate', review, null);
  assert.deepEqual([r.response.uid, r.response.allowed, r.response.status?.code], [review.request.uid, false, 500]);
  assert.match(r.response.status?.message ?? '', /internal error: disk on fire/);
  assert.equal(errors.length, 1, 'reported');
  const m = await answerReview({ node: broken, https: {} }, 'mutate', { nope: true }, null);
  assert.deepEqual([m.response.allowed, m.response.status?.code, m.response.patch], [false, 500, undefined]);
});

describe('--client-ca: only the API server\'s client certificate gets an answer', () => {
  let f: Fixture;
  let server: Server;
  let url: string;
  before(async () => {
    f = await fixture({ policyDir: policyFolder({ 'k8s.cedar': POLICY }) });
    server = createAdmissionServer({ node: f.node, https: admissionTlsOptions({ tlsCert: join(dir, 'server.pem'), tlsKey: join(dir, 'server.key'), clientCa: join(dir, 'ca.pem') }) });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
    f.cleanup();
  });

  it('no certificate, or one from another CA: the handshake fails and nothing is recorded; the CA\'s: decided', async () => {
    const size = f.ledger.size();
    const review = () => podReview(pod([container(PINNED)]));
    await assert.rejects(post(url, '/validate', review()), (e: NodeJS.ErrnoException) => typeof e.code === 'string', 'no client certificate');
    await assert.rejects(post(url, '/validate', review(), 'application/json', 'rogue'), (e: NodeJS.ErrnoException) => typeof e.code === 'string', 'a self-signed one');
    assert.equal(f.ledger.size(), size);
    const r = await post(url, '/validate', review(), 'application/json', 'apiserver');
    assert.equal(r.body.response.allowed, true);
    assert.equal(f.ledger.size(), size + 1);
  });
});

describe('the writ k8s admission command', () => {
  let child: ChildProcess;
  let url: string;
  let home: string;
  before(async () => {
    home = join(scratchDir('writ-k8s-cli-'), 'home');
    ok(writ(['init', '--home', home]), 'init');
    const bundle = join(home, '..', 'bundle.json');
    ok(writ(['policy', 'sign', policyFolder({ 'k8s.cedar': POLICY }), '--home', home, '--out', bundle, '--version', '3']), 'sign');
    ok(writ(['policy', 'activate', bundle, '--home', home]), 'activate');
    child = spawn(process.execPath, [CLI, 'k8s', 'admission', '--home', home, '--tls-cert', join(dir, 'server.pem'), '--tls-key', join(dir, 'server.key'), '--port', '0', '--host', '127.0.0.1'], { stdio: ['ignore', 'ignore', 'pipe'] });
    url = await new Promise<string>((resolve, reject) => {
      let err = '';
      const timer = setTimeout(() => reject(new Error(`did not start: ${err}`)), 20_000);
      child.stderr?.setEncoding('utf8').on('data', (s: string) => {
        err += s;
        const m = /listening on (https:\/\/\S+)/.exec(err);
        if (m?.[1]) {
          clearTimeout(timer);
          resolve(m[1]);
        }
      });
      child.once('exit', (code) => reject(new Error(`exited ${code}: ${err}`)));
    });
  });
  after(() => {
    child.kill('SIGTERM');
  });

  it('decides over HTTPS: digest-pinned allowed, tag-only denied 403; /mutate is not served without --mutating', async () => {
    const allow = await post(url, '/validate', podReview(pod([container(PINNED)])));
    assert.equal(allow.body.response.allowed, true, JSON.stringify(allow.body));
    assert.match(allow.body.response.auditAnnotations?.['decision-id'] ?? '', /^[0-9a-f-]{36}$/);
    const deny = await post(url, '/validate', podReview(pod([container('nginx:latest')])));
    assert.deepEqual([deny.body.response.allowed, deny.body.response.status?.code], [false, 403]);
    assert.equal((await post(url, '/mutate', podReview(pod([container(PINNED)])))).status, 404);
  });

  it('refuses to start without --tls-cert and --tls-key (usage error)', () => {
    const r = writ(['k8s', 'admission', '--home', home, '--port', '0']);
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, /--tls-cert/);
  });
});
