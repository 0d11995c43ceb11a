/**
 * Cosignatures for an offline proof file (`writ audit prove --witness KEY@URL …`): the
 * checkpoint in the file is submitted to each witness (./log-witnessing.ts, so the same
 * client, size learning and verification as the log's own submissions) and the
 * cosignatures obtained are appended to the checkpoint note in the file, so that the file
 * alone satisfies a verifier's K-of-N witness policy (docs/witness.md). A witness whose
 * cosignature the file already carries (stored by the log, `writ up --witness`) is counted,
 * and its line is not added a second time.
 */
import { parseCheckpoint } from '../tlog/checkpoint.ts';
import { openNote, NoteError } from '../tlog/note.ts';
import { formatProofFile, parseProofFile } from '../tlog/proof-file.ts';
import { parseWitnessEndpoint } from './client.ts';
import { LogWitnessing } from './log-witnessing.ts';

export async function cosignProofFile(
  fileText: string,
  witnesses: string[],
  prove: (from: number, to: number) => Uint8Array[],
  o: { timeoutMs?: number } = {},
): Promise<{ file: string; cosigned: number; errors: string[] }> {
  const endpoints = witnesses.map(parseWitnessEndpoint);
  const p = parseProofFile(fileText);
  let text: string;
  try {
    text = openNote(p.checkpoint, []).text;
  } catch (e) {
    if (!(e instanceof NoteError && e.note)) throw e;
    text = e.note.text;
  }
  const cp = parseCheckpoint(text);
  const errors: string[] = [];
  const w = new LogWitnessing(endpoints, { retryMs: 0, log: (s) => errors.push(s), ...(o.timeoutMs !== undefined && { timeoutMs: o.timeoutMs }) });
  await w.submit({ size: cp.size, root: cp.rootHash, note: p.checkpoint, created: '' }, async (from) => (from === 0 || from === cp.size ? [] : prove(from, cp.size)));
  const present = new Set(p.checkpoint.slice(p.checkpoint.lastIndexOf('\n\n') + 2).split('\n').map((l) => l.split(' ')[1]));
  const added = w.cosigned(p.checkpoint).slice(p.checkpoint.length).split('\n').filter((l) => l !== '' && !present.has(l.split(' ')[1]));
  return { file: formatProofFile({ ...p, checkpoint: p.checkpoint + added.map((l) => l + '\n').join('') }), cosigned: w.witnessCount(p.checkpoint), errors };
}
