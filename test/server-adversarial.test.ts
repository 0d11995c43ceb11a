/** HTTP API of an embedded node: adversarial input (malformed JSON, wrong types, extra fields, oversize bodies, wrong content types, unknown routes) never allows, never 500s. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { allowCount, AUD, authorize, READ, type ErrorBody, app, f, useServerApp } from './server-fixture.ts';

describe('HTTP API: adversarial input never allows, never 500s', () => {
  useServerApp();

  const allowBody = { ...READ, args: { path: '/srv/a.txt' } };

  async function expectRefused(
    req: { method: 'POST' | 'GET' | 'PUT' | 'DELETE'; url: string; payload?: string | object | Buffer; headers?: Record<string, string> },
    status: number,
    error: string | null,
  ) {
    const sizeBefore = f.ledger.size();
    const allowsBefore = allowCount(f);
    const res = await app.inject(req);
    assert.equal(res.statusCode, status, `${req.method} ${req.url}: ${res.body.slice(0, 300)}`);
    assert.notEqual(res.statusCode, 500);
    assert.match(String(res.headers['content-type']), /application\/json/);
    const body = res.json<ErrorBody & { writ?: unknown; decision?: unknown }>();
    if (error !== null) assert.equal(body.error, error);
    assert.equal(typeof body.message, 'string');
    assert.equal(body.writ, undefined);
    assert.notEqual(body.decision, 'allow');
    assert.equal(allowCount(f), allowsBefore, 'no allow recorded');
    assert.equal(f.ledger.size(), sizeBefore, 'nothing recorded at all');
    return body;
  }

  const json = { 'content-type': 'application/json' };

  it('malformed JSON is a 400 JSON error', async () => {
    const texts = [`{"principal":"Agent::\\"a1\\"","action":`, '{', 'nul', '{"principal": Agent::"a1"}', `${JSON.stringify(allowBody)}garbage`, ''];
    for (const t of texts) await expectRefused({ method: 'POST', url: '/v1/authorize', headers: json, payload: t }, 400, null);
  });

  it('wrong types are a 400 (no coercion)', async () => {
    const bodies: object[] = [
      { ...allowBody, principal: 42 },
      { ...allowBody, principal: ['Agent::"a1"'] },
      { ...allowBody, principal: null },
      { ...allowBody, action: { uid: 'x' } },
      { ...allowBody, args: ['/srv/a.txt'] },
      { ...allowBody, args: 'path=/srv/a.txt' },
      { ...allowBody, context: [] },
      { ...allowBody, ttlSeconds: '60' },
      { ...allowBody, ttlSeconds: 1.5 },
      { ...allowBody, ttlSeconds: 100_000 },
      { ...allowBody, minVersion: 0 },
      { ...allowBody, attestation: { binaryDigest: 'md5:abc' } },
      { ...allowBody, principal: '' },
      { action: allowBody.action, resource: allowBody.resource },
    ];
    for (const b of bodies) {
      const body = await expectRefused({ method: 'POST', url: '/v1/authorize', payload: b }, 400, 'invalid_request');
      assert.ok(body.message.length > 0);
    }
    // a JSON array or scalar at the top level
    await expectRefused({ method: 'POST', url: '/v1/authorize', headers: json, payload: JSON.stringify([allowBody]) }, 400, 'invalid_request');
    await expectRefused({ method: 'POST', url: '/v1/authorize', headers: json, payload: '"Agent::\\"a1\\""' }, 400, 'invalid_request');
    await expectRefused({ method: 'POST', url: '/v1/authorize', headers: json, payload: 'null' }, 400, null);
  });

  it('unknown extra fields are a 400, not silently dropped', async () => {
    await expectRefused({ method: 'POST', url: '/v1/authorize', payload: { ...allowBody, admin: true } }, 400, 'invalid_request');
    await expectRefused({ method: 'POST', url: '/v1/authorize', payload: { ...allowBody, attestation: { binaryDigest: `sha256:${'0'.repeat(64)}`, trusted: true } } }, 400, 'invalid_request');
    await expectRefused({ method: 'POST', url: '/v1/verify', payload: { audience: AUD, writ: 'a.b.c', consume: false, skip: true } }, 400, 'invalid_request');
  });

  it('prototype-poisoning keys are refused', async () => {
    const t = `{"principal":"Agent::\\"a1\\"","action":"Action::\\"tools/call\\"","resource":"Tool::\\"fs/read\\"","args":{"path":"/srv/a","__proto__":{"admin":true}}}`;
    await expectRefused({ method: 'POST', url: '/v1/authorize', headers: json, payload: t }, 400, null);
  });

  it('a body over 64 KiB is a 413 JSON error, even if it would otherwise be allowed', async () => {
    const big = JSON.stringify({ ...allowBody, args: { path: '/srv/a.txt', pad: 'x'.repeat(70 * 1024) } });
    await expectRefused({ method: 'POST', url: '/v1/authorize', headers: json, payload: big }, 413, 'body_too_large');
    await expectRefused({ method: 'POST', url: '/v1/verify', headers: json, payload: JSON.stringify({ writ: 'x'.repeat(70 * 1024) }) }, 413, 'body_too_large');
  });

  it('a wrong content-type is a 415 JSON error', async () => {
    for (const ct of ['application/x-www-form-urlencoded', 'application/xml', 'multipart/form-data', 'application/json-patch+json']) {
      await expectRefused({ method: 'POST', url: '/v1/authorize', headers: { 'content-type': ct }, payload: JSON.stringify(allowBody) }, 415, 'unsupported_media_type');
    }
  });

  it('text/plain (a CORS-simple content type) is a 415 too, not parsed', async () => {
    for (const ct of ['text/plain', 'text/plain; charset=utf-8']) {
      await expectRefused({ method: 'POST', url: '/v1/authorize', headers: { 'content-type': ct }, payload: JSON.stringify(allowBody) }, 415, 'unsupported_media_type');
    }
  });

  it('no route is a 404 JSON error', async () => {
    await expectRefused({ method: 'GET', url: '/v1/authorize' }, 404, 'not_found');
    await expectRefused({ method: 'POST', url: '/v1/authorise', payload: allowBody }, 404, 'not_found');
    await expectRefused({ method: 'POST', url: '/v2/authorize', payload: allowBody }, 404, 'not_found');
    await expectRefused({ method: 'DELETE', url: '/v1/revoke' }, 404, 'not_found');
    await expectRefused({ method: 'GET', url: '/../../etc/passwd' }, 404, 'not_found');
  });

  it('after all that, the node still allows a well-formed request', async () => {
    const r = await authorize(app, allowBody);
    assert.equal(r.status, 200);
  });
});
