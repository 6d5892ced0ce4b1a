/**
 * The stamp pattern survives what an encoder does to it — blur, noise, half resolution — and a
 * misread is rejected, never mistaken for another stamp.
 *   node --import tsx --test bench/call-pattern-check.ts     (in e2e/)
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { BAND_HEIGHT, BLOCK, FRAME_WIDTH, msSince, readStamp, stampBits, toTenths } from './call-pattern.ts'

/** The band as drawStamp draws it, at `scale`, blurred across block edges and with ±`noise` on every pixel. */
function band (bits: boolean[], scale: number, noise: number, seed: number): { rgba: Uint8ClampedArray, width: number } {
  const width = FRAME_WIDTH * scale
  const height = BAND_HEIGHT * scale
  const luma = new Float64Array(width * height)
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = Math.floor(y / scale / BLOCK) * (FRAME_WIDTH / BLOCK) + Math.floor(x / scale / BLOCK)
      luma[y * width + x] = bits[i] === true ? 255 : 0
    }
  }
  let state = seed
  const random = (): number => { state = (state * 1103515245 + 12345) % 2 ** 31; return state / 2 ** 31 }
  const rgba = new Uint8ClampedArray(width * height * 4)
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      // a 5-pixel horizontal box blur stands in for the codec smearing edges
      let sum = 0
      for (let d = -2; d <= 2; d++) sum += luma[y * width + Math.min(width - 1, Math.max(0, x + d))]!
      const v = sum / 5 + (random() * 2 - 1) * noise
      rgba.set([v, v, v, 255], (y * width + x) * 4)
    }
  }
  return { rgba, width }
}

test('stamps read back at full and half resolution under blur and noise', () => {
  for (let i = 0; i < 50; i++) {
    const stamp = { tenthsMs: (i * 2_654_435_761) >>> 0, counter: (i * 40_503) & 0xffff }
    for (const scale of [1, 0.5]) {
      const { rgba, width } = band(stampBits(stamp), scale, 60, i + 1)
      assert.deepEqual(readStamp(rgba, width), stamp)
    }
  }
})

test('a stamp with a flipped block is rejected', () => {
  const stamp = { tenthsMs: 123_456_789, counter: 4242 }
  for (let flip = 0; flip < 64; flip++) {
    const bits = stampBits(stamp)
    bits[flip] = !bits[flip]
    const { rgba, width } = band(bits, 1, 0, 1)
    assert.equal(readStamp(rgba, width), null, `bit ${flip}`)
  }
})

test('msSince undoes the 2³² wrap of the stamp clock', () => {
  const sent = 2 ** 32 / 10 - 5 // 5 ms before the wrap
  assert.equal(msSince(toTenths(sent), sent + 40), 40)
  assert.equal(msSince(toTenths(1_760_000_000_000.25), 1_760_000_000_035.75), 35.5)
})
