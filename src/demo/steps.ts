/**
 * The Runtime Governance Demo's scenario: who acts, on what, and the steps in order.
 * The steps are decided by the demo policy (demo/policy/policy.cedar); nothing here
 * decides anything. Each step says what it expects, and the runner reports what happened.
 */
import type { DemoStepId, DemoStepInfo } from './contract.ts';

/** The agent the scenario acts as (an Agent of demo/policy/entities.json, in Team::"ops"). */
export const DEMO_AGENT = 'Agent::"a1"';
/** The name `writ mcp` gives the filesystem server in resources: Tool::"fs/<tool>". */
export const DEMO_SERVER = 'fs';

export const DEMO_STEPS: readonly DemoStepInfo[] = [
  {
    id: 'read-allowed',
    title: 'An allowed file read',
    explain: 'The agent reads notes/readme.txt through `writ mcp` in front of the real MCP filesystem server. Policy agents-read-sandbox-notes permits reads under notes/; the server verifies the writ before it reads.',
    via: 'mcp',
    expect: 'allow',
    interactive: false,
  },
  {
    id: 'write-denied',
    title: 'A denied write',
    explain: 'The agent tries to write notes/out.txt. No policy permits write_file there, so Writ denies (no_permit), the call never reaches the server, and the file stays absent.',
    via: 'mcp',
    expect: 'deny',
    interactive: false,
  },
  {
    id: 'traversal-denied',
    title: 'A denied path traversal',
    explain: 'The agent asks for notes/../../../etc/passwd. Policy no-dot-dot forbids any path that climbs out with "..", whatever else permits it: the server receives nothing.',
    via: 'mcp',
    expect: 'deny',
    interactive: false,
  },
  {
    id: 'approval',
    title: 'A call that needs human approval',
    explain: 'The agent writes outbox/report.txt. Policy outbox-writes-need-approval permits it only once a person approves: approve or reject it here, and the call runs (or is refused) exactly once.',
    via: 'mcp',
    expect: 'allow',
    interactive: true,
  },
  {
    id: 'delegated-child',
    title: 'A delegated child call that may only narrow',
    explain: 'On behalf of its allowed read (the parent writ), the agent asks to run /usr/bin/echo. A child may only narrow what its parent was allowed: policy children-never-exec forbids it.',
    via: 'node',
    expect: 'deny',
    interactive: false,
  },
  {
    id: 'exec-allowed',
    title: 'An allowed process',
    explain: '`writ exec` runs /usr/bin/echo for the agent: policy ops-run-safe-binaries permits the safe binaries to the ops team. The executor verifies the writ (and the binary\'s digest) before it spawns.',
    via: 'exec',
    expect: 'allow',
    interactive: false,
  },
  {
    id: 'exec-denied',
    title: 'A denied process',
    explain: '`writ exec` is asked to run /usr/bin/rm on the sandbox\'s notes/. rm is not in the safe set: Writ denies (no_permit), nothing is spawned, and notes/ is untouched.',
    via: 'exec',
    expect: 'deny',
    interactive: false,
  },
  {
    id: 'revocation',
    title: 'A revocation terminates a running process',
    explain: '`writ exec` runs /usr/bin/sleep 30 (allowed); the demo then revokes its writ. The running execution\'s lease sees the revocation and terminates it; the outcome is recorded as terminated.',
    via: 'exec',
    expect: 'allow',
    interactive: false,
  },
];

export function stepInfo(id: string): DemoStepInfo | undefined {
  return DEMO_STEPS.find((s) => s.id === id);
}

export function isStepId(id: string): id is DemoStepId {
  return stepInfo(id) !== undefined;
}
