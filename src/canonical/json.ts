/**
 * RFC 8785 (JCS) canonical JSON: the one form every digest and signature in Writ is computed
 * over (intents, decision inputs, ledger leaves). Its own module, importing only the
 * `canonicalize` package, so that the writ, the ledger and the browser share it.
 */
import canonicalize from 'canonicalize';

/** RFC 8785 canonical form; throws on values JSON cannot represent. */
export function canonicalJson(value: unknown): string {
  const text = canonicalize(value);
  if (text === undefined) throw new TypeError('value has no canonical JSON form');
  return text;
}
