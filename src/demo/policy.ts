/** The demo's policy: demo/policy, signed with the home's authority key and activated when no valid bundle is active. */
import type { OpenHome } from '../home/open.ts';
import { authoritySigningKeys } from '../home/open.ts';
import { buildBundle, readPolicyFolder } from '../policy/sign.ts';
import { DEMO_POLICY_DIR } from './scope.ts';

/** Signs and activates the demo policy unless a valid bundle is already active; says so through `log`. */
export async function ensureDemoPolicy(h: OpenHome, log: (s: string) => void): Promise<void> {
  await h.node.policy.refresh();
  const a = h.node.policy.active;
  if (a && Date.parse(a.bundle.manifest.expires) > Date.now()) return;
  const created = new Date();
  const version = Math.max(Math.floor(created.getTime() / 1000), h.state.maxActivatedVersion(h.config.domain) + 1);
  const bundle = await buildBundle(
    readPolicyFolder(DEMO_POLICY_DIR),
    { domain: h.config.domain, version, created, expires: new Date(created.getTime() + 30 * 86400_000) },
    await authoritySigningKeys(h.home, h.config),
  );
  await h.node.policy.activate(new TextEncoder().encode(JSON.stringify(bundle)));
  log(`activated the demo policy (${DEMO_POLICY_DIR}) as version ${version}`);
}
