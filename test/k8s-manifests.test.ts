/**
 * deploy/kubernetes against the official types (@kubernetes/client-node): every document is a
 * known kind, and survives a round trip through its model unchanged — a misspelled or
 * misplaced field is dropped by the model, so the round trip would differ. (The library
 * keeps an object of an unknown apiVersion as it is: that is how the documents are read
 * untyped, to compare with.) Then what the
 * deployment promises: probes on /healthz and /readyz, non-root on a read-only root
 * filesystem, the home on a volume claim, a Service selecting the pods.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { dumpYaml, loadAllYaml, type KubernetesObject, type V1ConfigMap, type V1Service, type V1StatefulSet } from '@kubernetes/client-node';

const DIR = join(import.meta.dirname, '..', 'deploy', 'kubernetes');
const KINDS: Record<string, string> = {
  'v1/Namespace': 'V1Namespace',
  'v1/ConfigMap': 'V1ConfigMap',
  'v1/Service': 'V1Service',
  'apps/v1/StatefulSet': 'V1StatefulSet',
  'policy/v1/PodDisruptionBudget': 'V1PodDisruptionBudget',
};

interface Doc { file: string; raw: unknown; obj: KubernetesObject }

/** The documents as plain data, every field kept: read under an apiVersion no model has. */
function untyped(text: string): unknown[] {
  return (loadAllYaml(text.replace(/^apiVersion: .*$/gm, 'apiVersion: untyped.writ.test/v1')) as unknown[]).map((o) => JSON.parse(JSON.stringify(o)) as unknown);
}

function docs(): Doc[] {
  const out: Doc[] = [];
  for (const file of readdirSync(DIR).filter((f) => f.endsWith('.yaml')).sort()) {
    const text = readFileSync(join(DIR, file), 'utf8');
    const objs = loadAllYaml(text) as KubernetesObject[];
    const raws = untyped(text);
    assert.equal(objs.length, raws.length, file);
    objs.forEach((obj, i) => out.push({ file, raw: raws[i], obj }));
  }
  return out;
}

const all = docs();
const one = <T extends KubernetesObject>(kind: string): T => {
  const found = all.filter((d) => d.obj.kind === kind);
  assert.equal(found.length, 1, `one ${kind}`);
  return (found[0] as Doc).obj as T;
};

test('every manifest is a known kind and round-trips through its official model unchanged', () => {
  assert.ok(all.length >= 5);
  for (const { file, raw, obj } of all) {
    const type = KINDS[`${obj.apiVersion}/${obj.kind}`];
    assert.ok(type, `${file}: ${obj.apiVersion} ${obj.kind} is expected`);
    assert.equal(obj.metadata?.namespace ?? (obj.kind === 'Namespace' ? undefined : 'missing'), obj.kind === 'Namespace' ? undefined : 'writ', `${file}: namespace writ`);
    // typed, written back out, read untyped: what the model kept
    assert.deepEqual(untyped(dumpYaml(obj))[0], raw, `${file}: ${obj.kind} ${obj.metadata?.name} has a field its model does not know`);
  }
});

test('the writ node StatefulSet: probes, non-root, read-only root filesystem, the home on a claim', () => {
  const s = one<V1StatefulSet>('StatefulSet');
  const pod = s.spec?.template.spec;
  assert.ok(pod);
  const c = pod.containers.find((x) => x.name === 'writ');
  assert.ok(c);
  assert.deepEqual(c.args?.slice(0, 1), ['node']);
  assert.equal(c.readinessProbe?.httpGet?.path, '/readyz');
  assert.equal(c.livenessProbe?.httpGet?.path, '/healthz');
  assert.equal(pod.securityContext?.runAsNonRoot, true);
  for (const x of [...pod.containers, ...(pod.initContainers ?? [])]) {
    assert.equal(x.securityContext?.readOnlyRootFilesystem, true, `${x.name}: read-only root`);
    assert.equal(x.securityContext?.allowPrivilegeEscalation, false, x.name);
    assert.deepEqual(x.securityContext?.capabilities?.drop, ['ALL'], x.name);
  }
  const claim = s.spec?.volumeClaimTemplates?.[0]?.metadata?.name;
  assert.ok(claim !== undefined && c.volumeMounts?.some((m) => m.name === claim && m.mountPath === '/var/lib/writ'));
  // every volume a container mounts is declared (the claim or the pod's volumes)
  const declared = new Set([claim, ...(pod.volumes ?? []).map((v) => v.name)]);
  for (const x of [...pod.containers, ...(pod.initContainers ?? [])]) for (const m of x.volumeMounts ?? []) assert.ok(declared.has(m.name), `${x.name} mounts ${m.name}`);
  // the home the CLI uses is on the claim
  const cm = one<V1ConfigMap>('ConfigMap');
  assert.match(cm.data?.['WRIT_HOME'] ?? '', /^\/var\/lib\/writ\//);
  assert.ok(c.envFrom?.some((e) => e.configMapRef?.name === cm.metadata?.name));
});

test('the Services select the StatefulSet\'s pods on its named port', () => {
  const s = one<V1StatefulSet>('StatefulSet');
  const labels = s.spec?.template.metadata?.labels ?? {};
  assert.deepEqual(s.spec?.selector.matchLabels, labels);
  const services = all.filter((d) => d.obj.kind === 'Service').map((d) => d.obj as V1Service);
  assert.ok(services.some((x) => x.metadata?.name === s.spec?.serviceName && x.spec?.clusterIP === 'None'), 'the headless service the StatefulSet names');
  for (const svc of services) {
    for (const [k, v] of Object.entries(svc.spec?.selector ?? {})) assert.equal(labels[k], v, `${svc.metadata?.name} selects ${k}`);
    assert.ok(svc.spec?.ports?.every((p) => p.targetPort === 'http'));
  }
  assert.ok(s.spec?.template.spec?.containers.some((c) => c.ports?.some((p) => p.name === 'http' && p.containerPort === 8700)));
});
