/**
 * What a donor allows to go out: an upload-rate cap (a token bucket) and a cap on how many
 * peers are served at once.
 */
import { RateLimitedError, TokenBucket } from '@peerloom/shared'

export interface UploadBudgetInit {
  rateBytesPerSec: number
  maxConnections: number
  /** Bytes that may go out at once after an idle period; at least one block. */
  burstBytes?: number
  now?: () => number
}

/**
 * The upload-rate cap is a TokenBucket used in "debt" form: `reserve(n)` always succeeds and
 * says how long to wait, so concurrent senders are served in order and, over any window of T
 * seconds, at most `burst + rate × T` bytes go out.
 */
export class UploadBudget {
  private maxConnections: number
  private readonly bucket: TokenBucket
  private readonly slots = new Map<string, number>()

  constructor (init: UploadBudgetInit) {
    this.bucket = new TokenBucket({ rate: init.rateBytesPerSec, burst: init.burstBytes ?? init.rateBytesPerSec, ...(init.now === undefined ? {} : { now: init.now }) })
    this.maxConnections = init.maxConnections
  }

  configure ({ rateBytesPerSec, maxConnections, burstBytes }: { rateBytesPerSec: number, maxConnections: number, burstBytes?: number }): void {
    this.bucket.configure({ rate: rateBytesPerSec, burst: burstBytes ?? rateBytesPerSec })
    this.maxConnections = maxConnections
  }

  /** Takes `bytes` from the bucket; returns how many milliseconds to wait before sending them. */
  reserve (bytes: number): number {
    return this.bucket.reserve(bytes)
  }

  /** Returns bytes that were reserved but not sent. */
  refund (bytes: number): void {
    this.bucket.refund(bytes)
  }

  /** Waits until `bytes` may be sent. */
  async take (bytes: number, options: { signal?: AbortSignal } = {}): Promise<void> {
    const wait = this.reserve(bytes)
    if (wait <= 0) return
    try {
      await sleep(wait, options.signal)
    } catch (err) {
      this.refund(bytes)
      throw err
    }
  }

  /** Admits one more request from `peer`; throws RateLimitedError when too many peers are being served. */
  acquireSlot (peer: string): void {
    const held = this.slots.get(peer)
    if (held === undefined && this.slots.size >= this.maxConnections) {
      throw new RateLimitedError(`serving ${this.slots.size} peers already, the most this donor allows`, { data: { maxConnections: this.maxConnections } })
    }
    this.slots.set(peer, (held ?? 0) + 1)
  }

  releaseSlot (peer: string): void {
    const held = this.slots.get(peer) ?? 0
    if (held <= 1) this.slots.delete(peer)
    else this.slots.set(peer, held - 1)
  }

  /** Peers being served right now. */
  get activePeers (): number {
    return this.slots.size
  }
}

async function sleep (ms: number, signal?: AbortSignal): Promise<void> {
  signal?.throwIfAborted()
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort)
      resolve()
    }, ms)
    const onAbort = (): void => {
      clearTimeout(timer)
      reject(signal?.reason)
    }
    signal?.addEventListener('abort', onAbort, { once: true })
  })
}
