import { test } from 'node:test'
import assert from 'node:assert/strict'
import { TokenBucket } from '../src/token-bucket.ts'

test('tryTake refuses once the burst is spent and admits again as tokens refill', () => {
  let now = 0
  const bucket = new TokenBucket({ rate: 10, burst: 3, now: () => now })
  assert.ok(bucket.tryTake(1) && bucket.tryTake(1) && bucket.tryTake(1))
  assert.equal(bucket.tryTake(1), false)
  assert.equal(bucket.retryAfterMs(1), 100)
  now += 100
  assert.equal(bucket.retryAfterMs(1), 0)
  assert.ok(bucket.tryTake(1))
  now += 10_000
  assert.equal(bucket.available, 3, 'never more than the burst')
})

test('reserve goes into debt and says how long to wait; refund gives tokens back', () => {
  let now = 0
  const bucket = new TokenBucket({ rate: 1000, burst: 1000, now: () => now })
  assert.equal(bucket.reserve(1000), 0)
  assert.equal(bucket.reserve(500), 500)
  assert.equal(bucket.reserve(500), 1000, 'a second sender waits behind the first')
  bucket.refund(500)
  assert.equal(bucket.reserve(0), 500)
  now += 500
  assert.equal(bucket.available, 0)
})

test('configure keeps the tokens held, up to the new burst', () => {
  let now = 0
  const bucket = new TokenBucket({ rate: 100, now: () => now })
  bucket.configure({ rate: 10, burst: 20 })
  assert.equal(bucket.available, 20)
  assert.equal(bucket.tryTake(21), false)
  now += 1000
  assert.equal(bucket.available, 20)
})
