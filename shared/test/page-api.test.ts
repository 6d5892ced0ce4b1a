import { test } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { validatePageRequest, PAGE_METHODS } from '../src/page-api.ts'
import { ErrorCode, PeerloomError } from '../src/errors.ts'

test('valid requests pass and come back typed', () => {
  assert.deepEqual(validatePageRequest({ method: 'peerloom_connect' }), { method: 'peerloom_connect', params: {} })
  assert.deepEqual(validatePageRequest({ method: 'peerloom_fetch', params: { link: 'peerloom://bafy', range: 'bytes=0-1' } }).params, { link: 'peerloom://bafy', range: 'bytes=0-1' })
  assert.equal(validatePageRequest({ method: 'peerloom_publish', params: { name: 'a.webm', mime: 'video/webm', size: 10 } }).method, 'peerloom_publish')
})

test('malformed requests are refused with 4200 or 5000', () => {
  const bad: Array<[unknown, number]> = [
    [null, ErrorCode.INVALID_PARAMS], ['peerloom_connect', ErrorCode.INVALID_PARAMS], [[], ErrorCode.INVALID_PARAMS],
    [{ method: 'eth_sendTransaction' }, ErrorCode.UNSUPPORTED_METHOD], [{ method: 'toString' }, ErrorCode.UNSUPPORTED_METHOD],
    [{ method: '__proto__' }, ErrorCode.UNSUPPORTED_METHOD], [{ method: 42 }, ErrorCode.UNSUPPORTED_METHOD],
    [{ method: 'peerloom_fetch' }, ErrorCode.INVALID_PARAMS], [{ method: 'peerloom_fetch', params: { link: 5 } }, ErrorCode.INVALID_PARAMS],
    [{ method: 'peerloom_fetch', params: { link: 'x'.repeat(600) } }, ErrorCode.INVALID_PARAMS],
    [{ method: 'peerloom_fetch', params: { link: 'peerloom://b', extra: 1 } }, ErrorCode.INVALID_PARAMS],
    [{ method: 'peerloom_publish', params: { name: 'a', mime: 'nope', size: 1 } }, ErrorCode.INVALID_PARAMS],
    [{ method: 'peerloom_publish', params: { name: 'a', mime: 'a/b', size: -1 } }, ErrorCode.INVALID_PARAMS],
    [{ method: 'peerloom_connect', params: [] }, ErrorCode.INVALID_PARAMS], [{ method: 'peerloom_connect', id: 1 }, ErrorCode.INVALID_PARAMS]
  ]
  for (const [request, code] of bad) {
    assert.throws(() => validatePageRequest(request), (err: unknown) => err instanceof PeerloomError && err.code === code, JSON.stringify(request))
  }
})

test('arbitrary input never crashes validation: it passes or throws a coded error', () => {
  fc.assert(fc.property(fc.oneof(fc.anything(), fc.record({ method: fc.constantFrom(...PAGE_METHODS), params: fc.anything() })), input => {
    try { validatePageRequest(input) } catch (err) { assert.ok(err instanceof PeerloomError && [ErrorCode.INVALID_PARAMS, ErrorCode.UNSUPPORTED_METHOD].includes(err.code as never)) }
  }), { numRuns: 1000 })
})
