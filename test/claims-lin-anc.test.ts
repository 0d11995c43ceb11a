/** `lin.anc` (docs/writ.md): optional, parent first, at most depth entries; anything else is writ_malformed. */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { claimsProblem } from '../src/writ/claims.ts';

const base = {
  v: 1, iss: 'node-1', sub: 'Agent::"a1"', aud: 'Tool::"fs/read"', iat: 1, nbf: 1, exp: 61, jti: 'c',
  act: { action: 'Action::"tools/call"', resource: 'Tool::"fs/read"' }, intent: 'i', pol: { domain: 'default', version: 1, digest: 'sha256:x' }, in: 'x', led: 3,
};

it('lin.anc: absent, or the ancestors parent first and no more than depth of them', () => {
  assert.equal(claimsProblem({ ...base, lin: { parent: null, root: 'c', depth: 0 } }), null);
  assert.equal(claimsProblem({ ...base, lin: { parent: 'b', root: 'a', depth: 2, anc: ['b', 'a'] } }), null);
  assert.equal(claimsProblem({ ...base, lin: { parent: 'b', root: 'a', depth: 2 } }), null, 'a writ from before anc');
  for (const anc of [['a', 'b'], ['b', 'a', 'z'], ['b', ''], 'b', [1], ['b', null]]) {
    assert.match(String(claimsProblem({ ...base, lin: { parent: 'b', root: 'a', depth: 2, anc } })), /lin\.anc malformed/, JSON.stringify(anc));
  }
  assert.match(String(claimsProblem({ ...base, lin: { parent: null, root: 'c', depth: 0, anc: ['x'] } })), /lin\.anc malformed/, 'a root has no ancestors');
});
