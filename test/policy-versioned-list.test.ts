/**
 * The envelope of mcp-pins.json and usage.json (src/policy/versioned-list.ts): each refusal
 * with its exact message, as both files reported it before they shared the check.
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import type { Diagnostic } from '../src/policy/source.ts';
import { parseMcpPins } from '../src/policy/mcp-pins.ts';
import { parseUsage } from '../src/policy/usage.ts';
import { parseVersionedList } from '../src/policy/versioned-list.ts';

const messages = (parse: (text: string, out: Diagnostic[]) => unknown[], text: string): string[] => {
  const out: Diagnostic[] = [];
  assert.deepEqual(parse(text, out), []);
  return out.map((d) => `${d.file}:${d.line}:${d.col}: ${d.message}`);
};

it('mcp-pins.json: the envelope refusals', () => {
  assert.match(messages(parseMcpPins, '{').join(), /^mcp-pins\.json:1:1: not JSON: /);
  assert.deepEqual(messages(parseMcpPins, '[]'), ['mcp-pins.json:1:1: must be a JSON object {"v": 1, "pins": [...]}']);
  assert.deepEqual(messages(parseMcpPins, '{"v": 2, "pins": []}'), ['mcp-pins.json:1:1: "v" must be 1']);
  assert.deepEqual(messages(parseMcpPins, '{"v": 1, "pins": {}}'), ['mcp-pins.json:1:1: "pins" must be an array']);
  assert.deepEqual(messages(parseMcpPins, JSON.stringify({ v: 1, pins: Array.from({ length: 2049 }, () => ({})) })), ['mcp-pins.json:1:1: at most 2048 pins']);
  // an empty list of pins is allowed
  const out: Diagnostic[] = [];
  assert.deepEqual(parseMcpPins('{"v": 1, "pins": []}', out), []);
  assert.deepEqual(out, []);
});

it('usage.json: the envelope refusals, an empty list among them', () => {
  assert.deepEqual(messages(parseUsage, '"x"'), ['usage.json:1:1: must be a JSON object {"v": 1, "counters": [...]}']);
  assert.deepEqual(messages(parseUsage, '{"v": 1, "counters": []}'), ['usage.json:1:1: "counters" must be a non-empty array']);
  assert.deepEqual(messages(parseUsage, JSON.stringify({ v: 1, counters: Array.from({ length: 33 }, () => ({})) })), ['usage.json:1:1: at most 32 counters']);
});

it('an unknown member beside the list is a diagnostic, and the list is still returned', () => {
  const out: Diagnostic[] = [];
  assert.deepEqual(parseVersionedList('{"v": 3, "items": [1], "extra": 0}', { file: 'f.json', version: 3, key: 'items', max: 1, nonEmpty: true }, out), [1]);
  assert.deepEqual(out.map((d) => d.message), ['unknown member "extra"']);
});
