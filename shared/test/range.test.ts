import { test } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { parseRangeHeader, contentRangeHeader } from '../src/range.ts'
import { RangeNotSatisfiableError } from '../src/errors.ts'

test('Range headers parse like HTTP says', () => {
  assert.equal(parseRangeHeader(null, 100), null)
  assert.equal(parseRangeHeader('', 100), null)
  assert.deepEqual(parseRangeHeader('bytes=0-9', 100), { start: 0, end: 10 })
  assert.deepEqual(parseRangeHeader('bytes=90-', 100), { start: 90, end: 100 })
  assert.deepEqual(parseRangeHeader('bytes=90-1000', 100), { start: 90, end: 100 })
  assert.deepEqual(parseRangeHeader('bytes=-10', 100), { start: 90, end: 100 })
  assert.deepEqual(parseRangeHeader('bytes=-1000', 100), { start: 0, end: 100 })
  assert.deepEqual(parseRangeHeader(' Bytes = 5 - 6 ', 100), { start: 5, end: 7 })
  assert.equal(contentRangeHeader({ start: 90, end: 100 }, 100), 'bytes 90-99/100')
})

test('unsatisfiable or unsupported ranges are refused', () => {
  for (const bad of ['bytes=100-', 'bytes=5-4', 'bytes=-0', 'bytes=-', 'bytes=0-1,5-6', 'items=0-1', 'bytes=a-b', 'bytes=1e3-']) {
    assert.throws(() => parseRangeHeader(bad, 100), RangeNotSatisfiableError, bad)
  }
})

test('every satisfiable single range lies inside the resource', () => {
  fc.assert(fc.property(fc.integer({ min: 1, max: 1e9 }), fc.nat(), fc.nat(), (size, a, b) => {
    try {
      const range = parseRangeHeader(`bytes=${a}-${b}`, size)!
      assert.ok(range.start >= 0 && range.start < range.end && range.end <= size)
    } catch (err) {
      assert.ok(err instanceof RangeNotSatisfiableError)
    }
  }))
})
