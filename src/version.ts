/** This software's version (package.json), as nodes report it and consoles show it. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export const SOFTWARE_VERSION = (() => {
  try {
    return String((JSON.parse(readFileSync(join(import.meta.dirname, '..', 'package.json'), 'utf8')) as { version?: unknown }).version ?? 'unknown');
  } catch {
    return 'unknown';
  }
})();
