/** `peerloom publish`'s progress line: human units, and no ETA until the meter has data. */
import { describe as suite, it } from 'node:test'
import assert from 'node:assert/strict'
import { describe } from '../src/cli/progress.ts'

suite('publish progress', () => {
  it('says sizes in binary units and waits for an estimate before giving a time left', () => {
    assert.equal(describe({ bytes: 12 * 1024 * 1024, total: 100 * 1024 * 1024, fraction: 0.12, bytesPerSecond: null, etaSeconds: null }), '12.0 MiB of 100.0 MiB · estimating time left')
    assert.equal(describe({ bytes: 12 * 1024 * 1024, total: 100 * 1024 * 1024, fraction: 0.12, bytesPerSecond: 4.5 * 1024 * 1024, etaSeconds: 200 }), '12.0 MiB of 100.0 MiB · 4.5 MiB/s · 3 min 20 s left')
  })
})
