/**
 * The demo's sandbox: a folder the demo creates in the home (`<home>/demo/sandbox`), the
 * filesystem server's only root, with the files the steps read and the facts they check
 * afterwards (a denied write leaves its file absent; a denied rm leaves notes/ intact).
 */
import { existsSync, mkdirSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const README = 'notes/readme.txt';
export const DENIED_WRITE = 'notes/out.txt';
export const APPROVED_WRITE = 'outbox/report.txt';
export const TRAVERSAL = 'notes/../../../etc/passwd';

export class Sandbox {
  readonly root: string;

  private constructor(root: string) {
    this.root = root;
  }

  /** Creates (or repairs) the sandbox under `home`; its path is resolved, as the filesystem server resolves its root. */
  static create(home: string): Sandbox {
    const root = join(home, 'demo', 'sandbox');
    mkdirSync(join(root, 'notes'), { recursive: true, mode: 0o700 });
    mkdirSync(join(root, 'outbox'), { recursive: true, mode: 0o700 });
    const readme = join(root, README);
    if (!existsSync(readme)) {
      writeFileSync(readme, 'Hello from the Writ demo sandbox.\nThis read was decided by Cedar, recorded in the ledger, and verified by the server before it ran.\n');
    }
    return new Sandbox(realpathSync(root));
  }

  path(rel: string): string {
    return join(this.root, rel);
  }

  exists(rel: string): boolean {
    return existsSync(this.path(rel));
  }

  read(rel: string): string | null {
    try {
      return readFileSync(this.path(rel), 'utf8');
    } catch {
      return null;
    }
  }

  /** Before a step that checks a file's absence: a leftover would make the check meaningless. */
  remove(rel: string): void {
    rmSync(this.path(rel), { force: true });
  }

  /** `rel absent: true` — a fact the visitor can check on disk. */
  fact(rel: string): string {
    return `sandbox/${rel} ${this.exists(rel) ? 'exists' : 'absent'}: true`;
  }
}
