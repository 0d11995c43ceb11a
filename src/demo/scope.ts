/**
 * What an anonymous visitor of the demo may name: the demo's sandbox principals (its
 * Agents), its sandbox resources (its Tools and Binaries) and the two actions the steps
 * use — read from demo/policy/entities.json, the file the demo policy is built from, so
 * that activating another bundle never widens what an anonymous request may ask for.
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseUid } from '../canonical/uid.ts';

export const DEMO_POLICY_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'demo', 'policy');

export interface SandboxScope {
  principals: string[];
  resources: string[];
  actions: string[];
}

const uidText = (type: string, id: string) => `${type}::${JSON.stringify(id)}`;

export function sandboxScope(dir = DEMO_POLICY_DIR): SandboxScope {
  const entities = JSON.parse(readFileSync(join(dir, 'entities.json'), 'utf8')) as { uid?: { type?: unknown; id?: unknown } }[];
  const of = (type: string) => entities.flatMap((e) => (e.uid?.type === type && typeof e.uid.id === 'string' ? [uidText(type, e.uid.id)] : []));
  return { principals: of('Agent'), resources: [...of('Tool'), ...of('Binary')], actions: ['Action::"tools/call"', 'Action::"exec"'] };
}

/** Null when the request stays inside the sandbox; otherwise what leaves it. UIDs are compared in their canonical text. */
export function outsideSandbox(scope: SandboxScope, req: { principal: string; action: string; resource: string }): string | null {
  const canon = (t: string) => {
    const u = parseUid(t);
    return u ? uidText(u.type, u.id) : null;
  };
  if (!scope.principals.includes(canon(req.principal) ?? '')) return `principal ${req.principal} is not one of the demo's sandbox principals (${scope.principals.join(', ')})`;
  if (!scope.actions.includes(canon(req.action) ?? '')) return `action ${req.action} is not one of the demo's actions (${scope.actions.join(', ')})`;
  if (!scope.resources.includes(canon(req.resource) ?? '')) return `resource ${req.resource} is not one of the demo's sandbox resources`;
  return null;
}
