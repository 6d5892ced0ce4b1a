/**
 * A block-protocol server that misbehaves on purpose, for tests: the unit tests run it over
 * in-memory streams, the e2e bad peer (e2e/src/bad-peer-main.ts) over real WebRTC.
 *
 * - `lie`: answers OK with bytes that do not hash to the CID asked for
 * - `truncate`: announces a whole block, sends half of it and closes the stream
 * - `stall`: reads the request and never answers
 */
import { randomBytes } from 'node:crypto'
import type { Stream } from '@libp2p/interface'
import { lpStream } from '@libp2p/utils'
import { CID } from 'multiformats/cid'
import * as varint from 'uint8-varint'
import { Uint8ArrayList } from 'uint8arraylist'
import { BlockStatus } from '../src/blocks/block-protocol.ts'
import { MAX_BLOCK_BYTES } from '@peerloom/shared'

export const BAD_MODES = ['lie', 'truncate', 'stall'] as const
export type BadMode = (typeof BAD_MODES)[number]

/**
 * Size of the block a lying or truncating peer claims to send (a sealed 256 KiB chunk).
 * @default 256 KiB + 16
 */
const CLAIMED_BLOCK_BYTES = 256 * 1024 + 16

/** Serves one inbound block stream badly; `onRequest` sees every CID asked for. */
export async function serveBadly (stream: Stream, mode: BadMode, onRequest: (cid: CID) => void = () => {}): Promise<void> {
  const lp = lpStream(stream, { maxDataLength: MAX_BLOCK_BYTES })
  try {
    while (stream.status === 'open') {
      const request = await lp.read()
      onRequest(CID.decode(request.subarray()))
      if (mode === 'lie') {
        await lp.write(new Uint8ArrayList(Uint8Array.of(BlockStatus.OK), randomBytes(CLAIMED_BLOCK_BYTES)))
      } else if (mode === 'truncate') {
        const announced = 1 + CLAIMED_BLOCK_BYTES
        stream.send(new Uint8ArrayList(varint.encode(announced), Uint8Array.of(BlockStatus.OK), randomBytes(CLAIMED_BLOCK_BYTES / 2)))
        await stream.close()
        return
      }
      // stall: the request was read; no answer ever goes out, and the next read waits for a request that never comes
    }
  } catch {
    // the asking side gave up on the stream (aborted or reset it)
  }
}
