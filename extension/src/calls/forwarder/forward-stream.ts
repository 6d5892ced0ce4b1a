/**
 * One FORWARD_PROTOCOL stream (docs/CALLS.md, "Forward protocol"): length-prefixed forward
 * messages, decoded and checked on read, written in order. The forwarder's sessions and the
 * client's legs both speak it.
 */
import type { Stream } from '@libp2p/interface'
import { lpStream } from '@libp2p/utils'
import type { LengthPrefixedStream } from '@libp2p/utils'
import type { ForwardMessage } from './messages.ts'
import { MAX_FORWARD_MESSAGE_BYTES, decodeForwardMessage, encodeForwardMessage } from './messages.ts'

/** How long a closing stream may take to flush before it is aborted. @default 2000 */
const CLOSE_TIMEOUT_MS = 2000

export class ForwardStream {
  readonly stream: Stream
  private readonly lp: LengthPrefixedStream<Stream>
  private writes: Promise<void> = Promise.resolve()
  closed = false

  constructor (stream: Stream) {
    this.stream = stream
    this.lp = lpStream(stream, { maxDataLength: MAX_FORWARD_MESSAGE_BYTES })
  }

  /** The next message; throws on a malformed one or a closed stream. */
  async read (signal?: AbortSignal): Promise<ForwardMessage> {
    const bytes = await this.lp.read(signal === undefined ? undefined : { signal })
    return decodeForwardMessage(bytes.subarray())
  }

  /** Writes in order; a failed write aborts the stream. Nothing is sent once it is closed. */
  send (message: ForwardMessage): void {
    if (this.closed) return
    this.writes = this.writes.then(async () => { await this.lp.write(encodeForwardMessage(message)) }).catch(() => { this.abort() })
  }

  /** Takes no more messages, lets the queued ones out, then closes (aborts if that fails). */
  async close (): Promise<void> {
    if (this.closed) return
    this.closed = true
    await this.writes
    await this.stream.close({ signal: AbortSignal.timeout(CLOSE_TIMEOUT_MS) }).catch(() => { this.stream.abort(new Error('forward stream closed')) })
  }

  abort (): void {
    if (this.closed) return
    this.closed = true
    this.stream.abort(new Error('forward stream failed'))
  }
}
