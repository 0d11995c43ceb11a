/** The ledger modules use Node's global Buffer; in the browser it is the `buffer` package. Import first. */
import { Buffer } from 'buffer';

const g = globalThis as { Buffer?: unknown };
g.Buffer ??= Buffer;
