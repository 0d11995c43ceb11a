/**
 * The fleet's HTTP bodies as the multi-process tests and the bench read them (docs/http-api.md),
 * and the request the demo policy allows.
 */
import type { WritClaims } from '../src/writ/claims.ts';

/** The request the demo policy allows (Agent::"a1" reading under /srv). */
export const A1 = 'Agent::"a1"';
export const CALL = 'Action::"tools/call"';
export const READ = 'Tool::"fs/read"';
export function allowedRequest(i = 0): AuthorizeBody {
  return { principal: A1, action: CALL, resource: READ, args: { path: `/srv/data/${i}.txt` } };
}

export interface AuthorizeBody {
  principal: string;
  action: string;
  resource: string;
  args?: Record<string, unknown>;
  context?: Record<string, unknown>;
  parent?: string;
  ttlSeconds?: number;
  approval?: string;
  minVersion?: number;
}

export interface DecisionBody {
  decision: 'allow' | 'deny';
  decisionId: string;
  reasons: string[];
  policies: string[];
  message?: string;
  ledgerIndex: number | null;
  writ?: string;
  claims?: WritClaims;
}

export interface ReadyBody {
  ready: boolean;
  version?: number;
  digest?: string;
  reason?: string;
  message?: string;
}

export interface VerifyBody {
  valid: boolean;
  reason?: string;
  message?: string;
  claims?: WritClaims;
}

/** What a node reports in the status bucket (src/sync/fleet-node.ts). */
export interface NodeStatus {
  node: string;
  domain: string;
  version: number | null;
  digest: string | null;
  ready: boolean;
  reason: string | null;
  time: string;
}

export function decodeClaims(writ: string): WritClaims {
  return JSON.parse(Buffer.from(writ.split('.')[1] ?? '', 'base64url').toString('utf8')) as WritClaims;
}
