/**
 * `/peerloom/block/1.0.0`: a peer asks for a block by CID and gets it, or a status saying
 * why not. Each message is length-prefixed; a stream carries any number of requests in
 * turn, so a client keeps a few streams per peer open and reuses them.
 *
 * request  = CID bytes
 * response = status byte ‖ block bytes (status OK only)
 *
 * It runs only on direct (WebRTC) connections: relayed connections are sized for signalling.
 */
import { lpStream } from '@libp2p/utils'
import { logger } from '@libp2p/logger'
import type { Connection, Stream } from '@libp2p/interface'
import type { CID } from 'multiformats/cid'
import { BLOCK_PROTOCOL, MAX_BLOCK_BYTES } from '@peerloom/shared'

const log = logger('peerloom:block-streams')

export const BlockStatus = {
  OK: 0,
  /** The peer does not hold the block. */
  NOT_FOUND: 1,
  /** The peer's owner has not opted in to serving. */
  NOT_SERVING: 2,
  /** The peer is serving as many peers as its owner allows. */
  BUSY: 3,
  /** The request was not a CID. */
  BAD_REQUEST: 4
} as const

const statusNames = new Map<number, string>(Object.entries(BlockStatus).map(([name, value]) => [value, name]))

/** A peer answered a block request with something other than the block. */
export class BlockRefusedError extends Error {
  override name = 'BlockRefusedError'
  readonly status: number
  constructor (status: number, cid: CID) {
    super(`peer answered ${statusNames.get(status) ?? `status ${status}`} for block ${cid.toString()}`)
    this.status = status
  }
}

/** A reusable outbound stream to one peer. */
export class BlockStream {
  private readonly stream: Stream
  private readonly lp: ReturnType<typeof lpStream>

  private constructor (stream: Stream) {
    this.stream = stream
    this.lp = lpStream(stream, { maxDataLength: MAX_BLOCK_BYTES })
  }

  static async open (connection: Connection, options: { signal: AbortSignal }): Promise<BlockStream> {
    return new BlockStream(await connection.newStream(BLOCK_PROTOCOL, { signal: options.signal }))
  }

  get open (): boolean {
    return this.stream.status === 'open'
  }

  /** Asks for `cid`; returns the bytes as sent (unverified) or throws BlockRefusedError. */
  async request (cid: CID, options: { signal: AbortSignal }): Promise<Uint8Array> {
    await this.lp.write(cid.bytes, options)
    const response = await this.lp.read(options)
    if (response.byteLength === 0) throw new BlockRefusedError(BlockStatus.BAD_REQUEST, cid)
    const status = response.get(0)
    if (status !== BlockStatus.OK) throw new BlockRefusedError(status, cid)
    return response.subarray(1)
  }

  abort (reason: Error): void {
    this.stream.abort(reason)
  }

  async close (): Promise<void> {
    await this.stream.close({ signal: AbortSignal.timeout(1000) }).catch(() => {
      log('block stream %s did not close within 1 s: aborted', this.stream.id)
      this.stream.abort(new Error('close timed out'))
    })
  }
}

/**
 * Open block streams per connection, shared by every fetch session. Streams are reused rather
 * than closed after each transfer: fewer negotiations, and no churn of WebRTC data channels
 * (a closed channel's id is reused by the next one, which libp2p's WebRTC muxer has been seen
 * to confuse with another protocol's stream).
 */
export class BlockStreamPool {
  private readonly idle = new WeakMap<Connection, BlockStream[]>()
  private readonly maxIdle: number

  /** @param maxIdle streams kept per connection (the per-peer request limit) */
  constructor (maxIdle: number) {
    this.maxIdle = maxIdle
  }

  /** An idle open stream on `connection`, or a new one; `opened` tells which. */
  async take (connection: Connection, options: { signal: AbortSignal }): Promise<{ stream: BlockStream, opened: boolean }> {
    const list = this.idle.get(connection) ?? []
    while (list.length > 0) {
      const stream = list.pop() as BlockStream
      if (stream.open) return { stream, opened: false }
    }
    return { stream: await BlockStream.open(connection, options), opened: true }
  }

  /** Returns a stream that finished a request cleanly. */
  give (connection: Connection, stream: BlockStream): void {
    if (!stream.open || connection.status !== 'open') return
    const list = this.idle.get(connection) ?? []
    if (list.length >= this.maxIdle) {
      void stream.close()
      return
    }
    list.push(stream)
    this.idle.set(connection, list)
  }
}
