/** `peerloom publish`'s progress figures: human units, and a smoothed ETA that waits for data. */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { RateEstimator, formatBytes, formatDuration } from '../src/cli/progress.ts'

describe('publish progress', () => {
  it('writes sizes in binary units and durations in minutes and seconds', () => {
    assert.equal(formatBytes(512), '512 B')
    assert.equal(formatBytes(1536), '1.50 KiB')
    assert.equal(formatBytes(12.34 * 1024 * 1024), '12.3 MiB')
    assert.equal(formatBytes(300 * 1024 * 1024), '300 MiB')
    assert.equal(formatBytes(2 * 1024 ** 3), '2.00 GiB')
    assert.equal(formatDuration(42.4), '42 s')
    assert.equal(formatDuration(200), '3 min 20 s')
    assert.equal(formatDuration(3900), '1 h 05 min')
  })

  it('gives no ETA until a second has passed and 2 % is done', () => {
    const total = 100 * 1024 * 1024
    const rate = new RateEstimator(total, 0)
    rate.update(1024 * 1024, 500)
    assert.equal(rate.secondsLeft(500), undefined, 'half a second in')
    rate.update(1.5 * 1024 * 1024, 1000)
    assert.equal(rate.secondsLeft(1000), undefined, '1.5 % done')
    rate.update(3 * 1024 * 1024, 1500)
    assert.ok(rate.secondsLeft(1500) !== undefined)
  })

  it('averages over a window: a burst moves the ETA by what it adds, not by its instant rate', () => {
    const total = 1000 * 1024 * 1024
    const rate = new RateEstimator(total, 0)
    // a steady 10 MiB/s for 10 s, one callback every 100 ms
    for (let t = 100; t <= 10_000; t += 100) rate.update((t / 1000) * 10 * 1024 * 1024, t)
    const steady = rate.secondsLeft(10_000) as number
    assert.ok(Math.abs(steady - 90) < 1, `90 s left at 10 MiB/s (got ${steady})`)
    // then 10 MiB arrive within 10 ms (a flushed buffer): an instant rate of 1 GiB/s, which
    // would put the ETA near one second; over the window it is 11 MiB/s, about 81 s
    rate.update(110 * 1024 * 1024, 10_010)
    const after = rate.secondsLeft(10_010) as number
    assert.ok(after > 75 && after < 90, `the ETA moves a little (got ${after})`)
    // and a stall of two seconds slows it by a fifth, instead of showing no estimate at all
    rate.update(110 * 1024 * 1024, 12_010)
    const stalled = rate.secondsLeft(12_010) as number
    assert.ok(stalled > after && stalled < after * 1.4, `a stall raises the ETA gently (got ${stalled})`)
  })
})
