/**
 * Answers other nodes' block requests — only while the donor has opted in, only from the
 * cache (never fetching on someone else's behalf), within the upload-rate and connection
 * caps, and metering every byte that actually went out, per client.
 */
import { lpStream } from '@libp2p/utils'
import type { Connection, Libp2p, Logger, Stream } from '@libp2p/interface'
import { RateLimitedError } from '@peerloom/shared'
import { CID } from 'multiformats/cid'
import { Uint8ArrayList } from 'uint8arraylist'
import type { BlockCache } from '../cache/block-cache.ts'
import { BlockStatus } from './block-protocol.ts'
import { BLOCK_PROTOCOL, MAX_BLOCK_BYTES } from '@peerloom/shared'
import type { UploadBudget } from './upload-budget.ts'

export interface BlockServerComponents {
  libp2p: Pick<Libp2p, 'handle' | 'unhandle'>
  cache: Pick<BlockCache, 'get'>
  budget: UploadBudget
  isDonating: () => boolean
  /** Called once `bytes` were written to `client`. */
  onServed: (client: string, bytes: number) => void
  /** Scoped logger (`peerloom:block-server`). */
  log?: Logger
}

/**
 * Inbound streams per connection.
 * @default 64
 */
const MAX_INBOUND_STREAMS = 64

export class BlockServer {
  private readonly components: BlockServerComponents
  private controller = new AbortController()

  constructor (components: BlockServerComponents) {
    this.components = components
  }

  async start (): Promise<void> {
    this.controller = new AbortController()
    // registered even when not donating, so asking peers learn "not serving" and move on at once
    await this.components.libp2p.handle(BLOCK_PROTOCOL, (stream, connection) => { void this.serve(stream, connection) }, {
      maxInboundStreams: MAX_INBOUND_STREAMS,
      maxOutboundStreams: MAX_INBOUND_STREAMS,
      runOnLimitedConnection: false
    })
  }

  async stop (): Promise<void> {
    this.controller.abort(new Error('block server stopped'))
    await this.components.libp2p.unhandle(BLOCK_PROTOCOL)
  }

  private async serve (stream: Stream, connection: Connection): Promise<void> {
    const lp = lpStream(stream, { maxDataLength: MAX_BLOCK_BYTES })
    const client = connection.remotePeer.toString()
    const signal = this.controller.signal
    try {
      while (stream.status === 'open') {
        let request: Awaited<ReturnType<typeof lp.read>>
        try {
          request = await lp.read({ signal })
        } catch {
          break // the client closed the stream, or the node is stopping
        }
        let cid: CID | undefined
        try {
          cid = CID.decode(request.subarray())
        } catch {
          cid = undefined
        }
        if (cid === undefined) {
          await lp.write(Uint8Array.of(BlockStatus.BAD_REQUEST), { signal })
          continue
        }
        await this.answer(lp, cid, client, signal)
      }
      await stream.close({ signal }).catch(() => {})
    } catch (err) {
      this.components.log?.('stream from %s ended with an error: %s', client, (err as Error).message)
      stream.abort(err instanceof Error ? err : new Error(String(err)))
    }
  }

  private async answer (lp: ReturnType<typeof lpStream>, cid: CID, client: string, signal: AbortSignal): Promise<void> {
    const { budget, cache, isDonating, onServed } = this.components
    if (!isDonating()) {
      await lp.write(Uint8Array.of(BlockStatus.NOT_SERVING), { signal })
      return
    }
    try {
      budget.acquireSlot(client)
    } catch (err) {
      if (!(err instanceof RateLimitedError)) throw err
      this.components.log?.('busy: refused %s (%s)', client, err.message)
      await lp.write(Uint8Array.of(BlockStatus.BUSY), { signal })
      return
    }
    try {
      const block = await cache.get(cid)
      if (block === undefined) {
        await lp.write(Uint8Array.of(BlockStatus.NOT_FOUND), { signal })
        return
      }
      await budget.take(block.length, { signal })
      if (!isDonating()) { // the donor may have switched off while this request waited
        budget.refund(block.length)
        await lp.write(Uint8Array.of(BlockStatus.NOT_SERVING), { signal })
        return
      }
      // the status byte and the block go out as one message without copying the block
      await lp.write(new Uint8ArrayList(Uint8Array.of(BlockStatus.OK), block), { signal })
      onServed(client, block.length)
    } finally {
      budget.releaseSlot(client)
    }
  }
}
