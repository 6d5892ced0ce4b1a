/** Progress as people read it: units, durations, and a rate and ETA that neither jump nor guess early. */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { ProgressMeter, formatBytes, formatDuration } from '../src/progress.ts'

test('sizes in binary units, durations in minutes and seconds', () => {
  assert.equal(formatBytes(512), '512 B')
  assert.equal(formatBytes(1536), '1.5 KiB')
  assert.equal(formatBytes(12.34 * 1024 * 1024), '12.3 MiB')
  assert.equal(formatBytes(2 * 1024 ** 3), '2.0 GiB')
  assert.equal(formatDuration(42.4), '42 s')
  assert.equal(formatDuration(200), '3 min 20 s')
  assert.equal(formatDuration(3900), '1 h 05 min')
})

test('no rate or ETA for the first second; a burst or a stall moves the ETA only a little', () => {
  let now = 0
  const total = 1000 * 1024 * 1024
  const meter = new ProgressMeter(total, { now: () => now })
  now = 500
  assert.equal(meter.update(5 * 1024 * 1024).etaSeconds, null, 'half a second in')
  // a steady 10 MiB/s for 10 s, one update every 250 ms
  for (; now < 10_000;) {
    now += 250
    meter.update((now / 1000) * 10 * 1024 * 1024)
  }
  const steady = meter.update(100 * 1024 * 1024).etaSeconds as number
  assert.ok(Math.abs(steady - 90) < 2, `90 s left at 10 MiB/s (got ${steady})`)
  // 10 MiB flushed at once (an instant rate of 40 MiB/s over 250 ms): the ETA must not halve
  now += 250
  const burst = meter.update(112.5 * 1024 * 1024).etaSeconds as number
  assert.ok(burst > steady * 0.6 && burst < steady, `a burst lowers the ETA a little (got ${burst})`)
  // then a second with nothing: the ETA rises, but an estimate is still there
  now += 1000
  const stalled = meter.update(112.5 * 1024 * 1024).etaSeconds as number
  assert.ok(stalled > burst && stalled < burst * 2, `a stall raises the ETA gently (got ${stalled})`)
  assert.deepEqual([meter.update(total).etaSeconds, meter.update(total).fraction], [0, 1])
})
