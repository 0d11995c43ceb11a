/**
 * The code blocks of README.md and docs/*.md that are meant to be run (the convention is
 * described in docs/README.md, "Examples that are run"):
 *
 * - fenced blocks tagged `sh`, `bash`, `js`, `mjs` or `ts` are run, in page order, unless the
 *   line just before the fence (blank lines aside) is `<!-- not run: REASON -->`;
 * - a `js`/`mjs`/`ts` block whose first line is a comment naming a file (`// verify.mjs …`) is
 *   saved under that name in the page's working folder, for a later `sh` block to run; any
 *   other one is run with `node` as it is;
 * - a block marked `<!-- run with the test services -->` needs NATS JetStream and PostgreSQL: it
 *   runs only where scripts/with-test-services.ts has set WRIT_TEST_NATS and WRIT_TEST_PG (npm test);
 * - every other block (untagged transcripts and outputs, json, cedar, yaml, …) is shown, not run.
 */
import { readFileSync } from 'node:fs';

export const RUN_LANGS = new Set(['sh', 'bash', 'js', 'mjs', 'ts']);

export interface DocBlock {
  file: string;
  /** 1-based line of the opening fence */
  line: number;
  lang: string;
  text: string;
  /** the reason given in `<!-- not run: … -->`, when the block is marked */
  notRun?: string;
  /** the file name a js/ts block is saved as */
  saveAs?: string;
  /** marked `<!-- run with the test services -->` */
  services?: boolean;
}

const FENCE = /^```([\w-]*)\s*$/;
const NOT_RUN = /^<!--\s*not run:\s*(.*?)\s*-->$/;
const SERVICES = /^<!--\s*run with the test services\s*-->$/;
const SAVE_AS = /^\/\/ ([\w.-]+\.(?:mjs|js|ts))\b/;

/** The fenced blocks of one markdown file (only top-level fences; indented ones are shown text). */
export function extractBlocks(file: string, markdown = readFileSync(file, 'utf8')): DocBlock[] {
  const lines = markdown.split('\n');
  const blocks: DocBlock[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = FENCE.exec(lines[i] ?? '');
    if (!open) continue;
    const start = i;
    const body: string[] = [];
    for (i++; i < lines.length && !/^```\s*$/.test(lines[i] ?? ''); i++) body.push(lines[i] ?? '');
    let prev = start - 1;
    while (prev >= 0 && (lines[prev] ?? '').trim() === '') prev--;
    const marker = NOT_RUN.exec((lines[prev] ?? '').trim());
    const lang = open[1] ?? '';
    const block: DocBlock = { file, line: start + 1, lang, text: body.join('\n') };
    if (marker) block.notRun = marker[1] ?? '';
    if (SERVICES.test((lines[prev] ?? '').trim())) block.services = true;
    const save = lang !== 'sh' && lang !== 'bash' ? SAVE_AS.exec(body[0] ?? '') : null;
    if (save) block.saveAs = save[1];
    blocks.push(block);
  }
  return blocks;
}

/**
 * The documented example paths under /tmp/ (homes like /tmp/w, scratch files like /tmp/wd2/…)
 * are moved under the page's own temporary folder, so runs never meet each other or old state.
 */
export function localizeTmp(text: string, tmp: string): string {
  return text.replace(/(?<![\w.~/-])\/tmp\//g, `${tmp}/`);
}
