/** ReceivedMeter: the node's received totals survive a restart (the popup's RECEIVED). */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import 'fake-indexeddb/auto'
import { ReceivedMeter } from '../src/blocks/serve-meter.ts'
import { kvRecord, openStateDb } from '../src/storage/state-db.ts'
import type { ReceivedBytes } from '../src/blocks/serve-meter.ts'

test('received totals are kept in the state database across a restart', async () => {
  const db = await openStateDb(`received-${process.pid}`)
  const first = new ReceivedMeter({ store: kvRecord<ReceivedBytes>(db, 'receivedTotals'), persistIntervalMs: 60_000 })
  await first.start()
  first.record('peer', 1000)
  first.record('origin', 300)
  first.record('peer', 24)
  assert.deepEqual(first.value, { fromPeers: 1024, fromOrigin: 300 })
  await first.flush() // what the node does at the end of each read
  // the browser closes without a stop: a second meter reads what was flushed
  const second = new ReceivedMeter({ store: kvRecord<ReceivedBytes>(db, 'receivedTotals'), persistIntervalMs: 60_000 })
  await second.start()
  assert.deepEqual(second.value, { fromPeers: 1024, fromOrigin: 300 })
  second.record('origin', 1)
  await second.stop()
  await first.stop() // first has nothing unsaved: it does not overwrite the newer totals
  assert.deepEqual(await db.get('kv', 'receivedTotals'), { fromPeers: 1024, fromOrigin: 301 })
  db.close()
})

test('a failed write is retried at the next flush; damaged stored totals count as zero', async () => {
  let fail = true
  let stored: unknown = { fromPeers: -5, fromOrigin: 'x' }
  const meter = new ReceivedMeter({
    store: {
      load: async () => stored as ReceivedBytes,
      save: async totals => { if (fail) throw new Error('disk full'); stored = totals }
    },
    persistIntervalMs: 60_000
  })
  await meter.start()
  assert.deepEqual(meter.value, { fromPeers: 0, fromOrigin: 0 })
  meter.record('peer', 10)
  await assert.rejects(meter.flush(), /disk full/)
  fail = false
  await meter.flush()
  assert.deepEqual(stored, { fromPeers: 10, fromOrigin: 0 })
  await meter.stop()
})
