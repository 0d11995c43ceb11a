/**
 * What Cedar judged for a decision — its principal, action and resource as normalized UIDs —
 * for the callers told of a denial (the HTTP API's bodies, `writ mcp`'s errors), so they see
 * what was evaluated rather than what they think they sent; null when Cedar did not run.
 */
import { uidText } from '../canonical/uid.ts';
import type { Decision } from './types.ts';

export interface Evaluated {
  principal: string;
  action: string;
  resource: string;
}

export function evaluatedOf(d: Decision): Evaluated | null {
  return d.input ? { principal: uidText(d.input.principal), action: uidText(d.input.action), resource: uidText(d.input.resource) } : null;
}
