/** What runs under a process, from /proc (Linux): a readiness signal for tests that start commands. */
import { readdirSync, readFileSync } from 'node:fs';

/** The argv of every process descended from `pid` (children, grandchildren, …). */
export function descendants(pid: number): string[][] {
  const parent = new Map<number, number>();
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      // "pid (comm) state ppid …": comm may hold spaces and parentheses
      parent.set(Number(d), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch {
      // gone meanwhile
    }
  }
  const out: string[][] = [];
  for (const p of parent.keys()) {
    let q = parent.get(p);
    for (let hops = 0; q !== undefined && q !== pid && q > 1 && hops < 64; hops++) q = parent.get(q);
    if (q !== pid) continue;
    try {
      out.push(readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0').filter(Boolean));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

/** Whether a process with exactly this argv runs under `pid`. */
export function runsUnder(pid: number, argv: readonly string[]): boolean {
  return descendants(pid).some((a) => a.length === argv.length && a.every((x, i) => x === argv[i]));
}
