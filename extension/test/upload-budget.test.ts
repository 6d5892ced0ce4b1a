import { test } from 'node:test'
import assert from 'node:assert/strict'
import { ErrorCode } from '@peerloom/shared'
import { UploadBudget } from '../src/blocks/upload-budget.ts'

test('a full bucket lets a burst through, then paces at the rate', () => {
  let now = 0
  const budget = new UploadBudget({ rateBytesPerSec: 1000, burstBytes: 1000, maxConnections: 4, now: () => now })
  assert.equal(budget.reserve(1000), 0)
  assert.equal(budget.reserve(500), 500) // 500 bytes of debt at 1000 B/s
  now += 500
  assert.equal(budget.reserve(500), 500) // the debt was paid; this one waits its own turn
})

test('over any window, bytes granted stay within burst + rate × time', () => {
  let now = 0
  const rate = 2048
  const burst = 4096
  const budget = new UploadBudget({ rateBytesPerSec: rate, burstBytes: burst, maxConnections: 4, now: () => now })
  const grants: Array<{ at: number, bytes: number }> = []
  for (let i = 0; i < 400; i++) {
    now += (i * 13) % 50 // irregular arrivals
    const bytes = 100 + ((i * 71) % 900)
    const wait = budget.reserve(bytes)
    grants.push({ at: now + wait, bytes })
  }
  grants.sort((a, b) => a.at - b.at)
  for (let i = 0; i < grants.length; i++) {
    let sum = 0
    for (let j = i; j < grants.length; j++) {
      sum += grants[j]!.bytes
      const window = (grants[j]!.at - grants[i]!.at) / 1000
      assert.ok(sum <= burst + rate * window + 1e-6, `window ${i}..${j}: ${sum} bytes in ${window}s`)
    }
  }
})

test('refunds return reserved tokens, capped at the burst', () => {
  const now = 0
  const budget = new UploadBudget({ rateBytesPerSec: 1000, burstBytes: 1000, maxConnections: 1, now: () => now })
  assert.equal(budget.reserve(1500), 500)
  budget.refund(1500)
  assert.equal(budget.reserve(1000), 0)
})

test('take() waits the reserved time and is abortable, refunding on abort', async () => {
  const budget = new UploadBudget({ rateBytesPerSec: 10_000, burstBytes: 1000, maxConnections: 1 })
  await budget.take(1000)
  const started = performance.now()
  await budget.take(500) // 50 ms at 10 kB/s
  assert.ok(performance.now() - started >= 40)
  const controller = new AbortController()
  const pending = budget.take(5000, { signal: controller.signal })
  controller.abort(new Error('stop'))
  await assert.rejects(pending, /stop/)
})

test('the connection cap limits how many peers are served at once', () => {
  const budget = new UploadBudget({ rateBytesPerSec: 1000, maxConnections: 2 })
  budget.acquireSlot('p1')
  budget.acquireSlot('p1') // the same peer again does not take another slot
  budget.acquireSlot('p2')
  assert.throws(() => { budget.acquireSlot('p3') }, (err: { code: number }) => err.code === ErrorCode.RATE_LIMITED)
  budget.releaseSlot('p2')
  budget.acquireSlot('p3')
  assert.equal(budget.activePeers, 2)
  budget.releaseSlot('p1')
  assert.equal(budget.activePeers, 2) // p1 still has one request in flight
  budget.releaseSlot('p1')
  assert.equal(budget.activePeers, 1)
})
