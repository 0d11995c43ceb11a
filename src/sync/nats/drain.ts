/**
 * Runs a watch loop for as long as the watch lasts. An error in one entry is logged and
 * the loop goes on; if the iterator itself fails, that is logged too — never an unhandled
 * rejection, never a watch that stops without a word.
 */
import { errorMessage } from '../../util.ts';

export function drain<T>(name: string, it: AsyncIterable<T>, f: (e: T) => Promise<void>, log: (s: string) => void): void {
  void (async () => {
    for await (const e of it) await f(e).catch((err: unknown) => log(`${name}: ${errorMessage(err)}`));
  })().catch((err: unknown) => log(`${name}: the watch ended: ${errorMessage(err)}`));
}
