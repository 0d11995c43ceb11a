/**
 * The envelope of a bundle's versioned list files (mcp-pins.json, usage.json): one JSON object
 * `{"v": <version>, "<key>": [...]}` and nothing else. Each file checks its own items; this
 * checks the envelope the same way for all, each problem a diagnostic on line 1 of the file.
 */
import { isRecord } from '../util.ts';
import type { Diagnostic } from './source.ts';

export interface VersionedListFile {
  file: string;
  version: number;
  /** the member holding the list */
  key: string;
  /** at most this many items */
  max: number;
  /** whether an empty list is refused */
  nonEmpty: boolean;
}

/** The list of `text`, or null with a diagnostic in `out`; an unknown member beside it is a diagnostic too, and the list is still returned. */
export function parseVersionedList(text: string, f: VersionedListFile, out: Diagnostic[]): unknown[] | null {
  const bad = (message: string): null => {
    out.push({ file: f.file, line: 1, col: 1, message });
    return null;
  };
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    return bad(`not JSON: ${(err as Error).message}`);
  }
  if (!isRecord(doc)) return bad(`must be a JSON object {"v": ${f.version}, "${f.key}": [...]}`);
  if (doc.v !== f.version) return bad(`"v" must be ${f.version}`);
  for (const k of Object.keys(doc)) if (k !== 'v' && k !== f.key) bad(`unknown member ${JSON.stringify(k)}`);
  const list = doc[f.key];
  if (!Array.isArray(list) || (f.nonEmpty && list.length === 0)) return bad(`"${f.key}" must be ${f.nonEmpty ? 'a non-empty' : 'an'} array`);
  if (list.length > f.max) return bad(`at most ${f.max} ${f.key}`);
  return list as unknown[];
}
