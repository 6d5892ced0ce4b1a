import { test } from 'node:test'
import assert from 'node:assert/strict'
import { ServeMeter } from '../src/blocks/serve-meter.ts'
import type { MeterStore } from '../src/blocks/serve-meter.ts'
import type { ClientUsage } from '../src/storage/state-db.ts'
import { TransferHistory } from '../src/blocks/transfer-history.ts'

function memoryStore (): MeterStore & { rows: Map<string, ClientUsage>, saves: number } {
  const rows = new Map<string, ClientUsage>()
  const store = {
    rows,
    saves: 0,
    load: async () => [...rows.values()].map(r => ({ ...r })),
    save: async (records: ClientUsage[]) => {
      store.saves++
      for (const r of records) rows.set(r.client, { ...r })
    }
  }
  return store
}

test('bytes are metered per client and survive a restart', async () => {
  const store = memoryStore()
  let now = 1000
  const meter = new ServeMeter({ store, persistIntervalMs: 60_000, now: () => now })
  await meter.start()
  meter.record('peerA', 100)
  now = 2000
  meter.record('peerA', 50)
  meter.record('peerB', 7)
  await meter.stop()
  assert.deepEqual(store.rows.get('peerA'), { client: 'peerA', bytes: 150, blocks: 2, firstAt: 1000, lastAt: 2000 })

  const again = new ServeMeter({ store, persistIntervalMs: 60_000 })
  await again.start()
  assert.equal(again.total, 157)
  assert.deepEqual(again.list().map(c => [c.client, c.bytes]), [['peerA', 150], ['peerB', 7]])
  again.record('peerB', 3)
  await again.stop()
  assert.equal(store.rows.get('peerB')?.bytes, 10)
})

test('flush writes only what changed and keeps records when the store fails', async () => {
  const store = memoryStore()
  const meter = new ServeMeter({ store, persistIntervalMs: 60_000 })
  await meter.start()
  await meter.flush()
  assert.equal(store.saves, 0)
  meter.record('p', 1)
  const save = store.save
  store.save = async () => { throw new Error('disk full') }
  await assert.rejects(meter.flush(), /disk full/)
  store.save = save
  await meter.flush()
  assert.equal(store.rows.get('p')?.bytes, 1)
  await meter.stop()
})

test('history buckets bytes by time and reports rates, dropping old buckets', () => {
  let now = 0
  const history = new TransferHistory({ bucketMs: 1000, maxBuckets: 3, now: () => now })
  history.record('served', 500)
  now = 1500
  history.record('received', 2000)
  history.record('served', 100)
  now = 2100
  const series = history.series(3)
  assert.deepEqual(series.t, [0, 1, 2])
  assert.deepEqual(series.served, [500, 100, 0])
  assert.deepEqual(series.received, [0, 2000, 0])
  now = 10_000
  history.record('served', 1)
  assert.deepEqual(history.snapshot().map(b => b.t), [10_000])
})
