import { test } from 'node:test'
import assert from 'node:assert/strict'
import { ErrorCode } from '@peerloom/shared'
import { CacheLedger } from '../src/cache/cache-ledger.ts'

test('admission evicts least recently used blocks first, just enough to fit', () => {
  const ledger = new CacheLedger(100)
  ledger.add('a', 30, 1)
  ledger.add('b', 30, 2)
  ledger.add('c', 30, 3)
  ledger.touch('a', 4) // a is now the most recent
  assert.deepEqual(ledger.planAdmission(10), [])
  assert.deepEqual(ledger.planAdmission(20), ['b'])
  assert.deepEqual(ledger.planAdmission(45), ['b', 'c'])
})

test('usage never exceeds the cap when plans are applied', () => {
  const ledger = new CacheLedger(1000)
  let now = 0
  for (let i = 0; i < 500; i++) {
    const size = 1 + ((i * 37) % 200)
    for (const key of ledger.planAdmission(size)) ledger.remove(key)
    ledger.add(`k${i}`, size, now++)
    if (i % 3 === 0) ledger.touch(`k${Math.floor(i / 2)}`, now++)
    assert.ok(ledger.used <= ledger.cap, `used ${ledger.used} > cap after ${i}`)
  }
})

test('pinned blocks are never planned for eviction; an impossible admission is a quota error', () => {
  const ledger = new CacheLedger(100)
  ledger.add('a', 50, 1)
  ledger.add('b', 40, 2)
  ledger.pin('a')
  assert.deepEqual(ledger.planAdmission(30), ['b'])
  ledger.pin('b')
  assert.throws(() => ledger.planAdmission(30), (err: { code: number, message: string }) => {
    assert.equal(err.code, ErrorCode.QUOTA_EXCEEDED)
    assert.match(err.message, /raise the cache cap in Options/)
    return true
  })
  ledger.unpin('b')
  assert.deepEqual(ledger.planAdmission(30), ['b'])
})

test('pins nest: a block stays pinned until every pin is released', () => {
  const ledger = new CacheLedger(10)
  ledger.add('a', 10, 1)
  ledger.pin('a')
  ledger.pin('a')
  ledger.unpin('a')
  assert.equal(ledger.isPinned('a'), true)
  ledger.unpin('a')
  assert.equal(ledger.isPinned('a'), false)
  assert.deepEqual(ledger.planAdmission(5), ['a'])
})

test('lowering the cap plans a shrink in LRU order, keeping pinned blocks', () => {
  const ledger = new CacheLedger(100)
  ledger.restore([['c', { bytes: 30, lastUsed: 3 }], ['a', { bytes: 30, lastUsed: 1 }], ['b', { bytes: 30, lastUsed: 2 }]])
  ledger.pin('a')
  ledger.setCap(40)
  assert.deepEqual(ledger.planShrink(), ['b', 'c'])
  assert.equal(ledger.used, 90)
})

test('re-adding a key replaces its size rather than double counting', () => {
  const ledger = new CacheLedger(100)
  ledger.add('a', 10, 1)
  ledger.add('a', 20, 2)
  assert.equal(ledger.used, 20)
  assert.equal(ledger.count, 1)
})
