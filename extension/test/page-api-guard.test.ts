/** The per-origin rate limit and the cache-timing guard. */
import 'fake-indexeddb/auto'
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { OriginRateLimit } from '../src/page-api/node/rate-limit.ts'
import { CacheTimingGuard } from '../src/page-api/node/timing-guard.ts'
import { openPageApiDb } from '../src/page-api/node/page-db.ts'
import { DEFAULT_COLD_FIRST_BYTE_MS } from '../src/page-api/constants.ts'

let n = 0
const db = async () => await openPageApiDb(`guard-${process.pid}-${n++}`)

test('rate limit: a burst, then the sustained rate; origins do not share a bucket', () => {
  let now = 0
  const limit = new OriginRateLimit({ perSecond: 10, burst: 5, now: () => now })
  for (let i = 0; i < 5; i++) assert.equal(limit.take('https://a.example'), true)
  assert.equal(limit.take('https://a.example'), false)
  assert.ok(limit.retryAfter('https://a.example') > 0)
  assert.equal(limit.take('https://b.example'), true)
  now += 100 // one token back
  assert.equal(limit.take('https://a.example'), true)
  assert.equal(limit.take('https://a.example'), false)
  now += 10_000
  for (let i = 0; i < 5; i++) assert.equal(limit.take('https://a.example'), true) // never more than the burst
  assert.equal(limit.take('https://a.example'), false)
})

test('timing guard: a first fetch answered from the cache looks like a network fetch', async () => {
  let now = 0
  const slept: number[] = []
  const guard = new CacheTimingGuard({ db: await db(), now: () => now, sleep: async ms => { slept.push(ms); now += ms } })
  guard.recordNetwork(200, 10_000_000, 1) // the node's own network: 200 ms to first byte, 10 MB/s
  const pacer = guard.pacer(0, true)
  await pacer.beforeChunk(1_000_000, true)
  assert.equal(now, 200) // the first byte waits for the network's first-byte time
  await pacer.beforeChunk(1_000_000, true)
  assert.equal(now, 300) // then 1 MB per 100 ms
  await pacer.beforeChunk(1_000_000, true)
  assert.equal(now, 400)
  assert.deepEqual(slept, [200, 100, 100])
})

test('timing guard: no delay for bytes from the network, or for content the origin fetched before', async () => {
  let now = 0
  const guard = new CacheTimingGuard({ db: await db(), now: () => now, sleep: async ms => { now += ms } })
  const network = guard.pacer(0, true)
  await network.beforeChunk(1_000_000, false)
  assert.equal(now, 0)
  const repeat = guard.pacer(0, false)
  await repeat.beforeChunk(1_000_000, true)
  assert.equal(now, 0)
  assert.equal(guard.coldFirstByteMs, DEFAULT_COLD_FIRST_BYTE_MS) // no samples yet: the default
})

test('timing guard: "seen" is per origin, persisted, and forgotten on revoke', async () => {
  const database = await db()
  const guard = new CacheTimingGuard({ db: database })
  assert.equal(await guard.seen('https://a.example', 'bafy1'), false)
  assert.equal(await guard.seen('https://a.example', 'bafy1'), true)
  assert.equal(await guard.seen('https://b.example', 'bafy1'), false) // another site learns nothing from a's fetch
  assert.equal(await new CacheTimingGuard({ db: database }).seen('https://a.example', 'bafy1'), true)
  await guard.forget('https://a.example')
  assert.equal(await guard.seen('https://a.example', 'bafy1'), false)
  assert.equal(await guard.seen('https://b.example', 'bafy1'), true)
})
