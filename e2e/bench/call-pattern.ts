/**
 * The timestamp pattern bench:call draws into each sent video frame and reads back from each
 * decoded one: 64 bits as black and white blocks across the top of a 640×480 frame — the
 * sender's clock in 0.1 ms units (low 32 bits), a 16-bit frame counter and a CRC-16 over both.
 * Blocks are 20 px squares and only their middle half is read, so VP8's blurring of block edges,
 * its quantisation at start-up bitrates and the encoder halving the resolution all leave the
 * bits readable; the CRC turns the rare misread into "undecodable", never a wrong figure.
 * Pure functions over RGBA pixels, so the page bundle and a Node check use the same code.
 */

export const FRAME_WIDTH = 640
export const FRAME_HEIGHT = 480
/** Block edge in px of the 640×480 frame. */
export const BLOCK = 20
const BITS = 64
const PER_ROW = FRAME_WIDTH / BLOCK
/** Height of the band that holds the pattern, in px of the 640×480 frame. */
export const BAND_HEIGHT = Math.ceil(BITS / PER_ROW) * BLOCK

export interface FrameStamp {
  /** The sender's clock when it drew the frame, in 0.1 ms units, modulo 2³². */
  tenthsMs: number
  /** Frames drawn by that sender, modulo 2¹⁶. */
  counter: number
}

/** CRC-16/CCITT-FALSE: catches every misread of up to 3 bits and almost all longer ones. */
function crc16 (bytes: Uint8Array): number {
  let crc = 0xffff
  for (const byte of bytes) {
    crc ^= byte << 8
    for (let i = 0; i < 8; i++) crc = (crc & 0x8000) !== 0 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff
  }
  return crc
}

/** The 64 bits of a stamp, most significant first. */
export function stampBits (stamp: FrameStamp): boolean[] {
  const bytes = new Uint8Array(8)
  const view = new DataView(bytes.buffer)
  view.setUint32(0, stamp.tenthsMs >>> 0)
  view.setUint16(4, stamp.counter & 0xffff)
  view.setUint16(6, crc16(bytes.subarray(0, 6)))
  const bits: boolean[] = []
  for (const byte of bytes) for (let i = 7; i >= 0; i--) bits.push(((byte >> i) & 1) === 1)
  return bits
}

/** Draws the stamp's blocks (white = 1) over the top band of a 640×480 canvas. */
export function drawStamp (ctx: CanvasRenderingContext2D, stamp: FrameStamp): void {
  const bits = stampBits(stamp)
  for (let i = 0; i < BITS; i++) {
    ctx.fillStyle = bits[i] === true ? '#fff' : '#000'
    ctx.fillRect((i % PER_ROW) * BLOCK, Math.floor(i / PER_ROW) * BLOCK, BLOCK, BLOCK)
  }
}

/**
 * Reads a stamp from RGBA pixels of the top band, `width` px wide and scaled from the 640 px
 * frame by `width / 640` (the receiver draws the band at whatever size it decoded); null when
 * the CRC does not match.
 */
export function readStamp (rgba: Uint8ClampedArray, width: number): FrameStamp | null {
  const scale = width / FRAME_WIDTH
  const bytes = new Uint8Array(8)
  for (let i = 0; i < BITS; i++) {
    // mean luma of the block's middle half
    const x0 = Math.round(((i % PER_ROW) * BLOCK + BLOCK / 4) * scale)
    const y0 = Math.round((Math.floor(i / PER_ROW) * BLOCK + BLOCK / 4) * scale)
    const side = Math.max(1, Math.round((BLOCK / 2) * scale))
    let sum = 0
    for (let y = y0; y < y0 + side; y++) {
      for (let x = x0; x < x0 + side; x++) {
        const p = (y * width + x) * 4
        sum += 0.299 * (rgba[p] ?? 0) + 0.587 * (rgba[p + 1] ?? 0) + 0.114 * (rgba[p + 2] ?? 0)
      }
    }
    if (sum / (side * side) >= 128) bytes[i >> 3]! |= 1 << (7 - (i & 7))
  }
  const view = new DataView(bytes.buffer)
  if (view.getUint16(6) !== crc16(bytes.subarray(0, 6))) return null
  return { tenthsMs: view.getUint32(0), counter: view.getUint16(4) }
}

/** A clock reading in ms as the stamp carries it. */
export function toTenths (ms: number): number {
  return Math.round(ms * 10) % 2 ** 32
}

/**
 * ms from a stamp's time to `laterMs` (same clock, in ms), undoing the 2³² wrap: correct for
 * any gap under 2³¹ tenths of a ms (2.5 days).
 */
export function msSince (tenthsMs: number, laterMs: number): number {
  let diff = (toTenths(laterMs) - tenthsMs) % 2 ** 32
  if (diff < 0) diff += 2 ** 32
  if (diff >= 2 ** 31) diff -= 2 ** 32
  return diff / 10
}
