/**
 * Running governed executions (issue 13): every execution an enforcement point started
 * under a writ — a `writ exec` process, an MCP tool call in flight — is registered while it
 * runs, with its writ and the exact request that was decided, so the node can re-decide it
 * when governance changes and an admin can see and end it (`writ ps`, the console).
 *
 * The registry is the home's (SQLite, shared by every process of the home: `writ exec`
 * runs apart from `writ up`); storage is a parameter. A row lives only while its execution
 * does: the enforcement point unregisters it when the call ends, and rows of processes
 * that are gone are pruned when listed (bounded by what actually runs).
 */

export type RunningKind = 'exec' | 'mcp' | 'http';

export interface RunningExecution {
  jti: string;
  /** the node that issued and governs it */
  node: string;
  kind: RunningKind;
  principal: string;
  action: string;
  resource: string;
  /** the writ it runs under (compact JWS) */
  writ: string;
  /** the decided request, as recorded (principal, action, resource, args, context) */
  request: unknown;
  /** when it began (ISO 8601) */
  started: string;
  /** the writ's runtime constraint, if any (claims.cons.maxRunSeconds) */
  maxRunSeconds: number | null;
  /** the process running it (to prune rows of processes that died) */
  pid: number;
}

export interface RunningRegistry {
  register(r: RunningExecution): void;
  unregister(jti: string): void;
  /** what runs now, oldest first; rows whose process is gone (`isAlive` false) are removed first */
  list(isAlive: (pid: number) => boolean): RunningExecution[];
  get(jti: string): RunningExecution | null;
}
