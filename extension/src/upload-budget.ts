/**
 * What a donor allows to go out: an upload-rate cap (a token bucket) and a cap on how many
 * peers are served at once.
 */
import { RateLimitedError } from '@peerloom/shared'

export interface UploadBudgetInit {
  rateBytesPerSec: number
  maxConnections: number
  /** Bytes that may go out at once after an idle period; at least one block. */
  burstBytes?: number
  now?: () => number
}

/**
 * Token bucket in "debt" form: `reserve(n)` always succeeds and says how long to wait, so
 * concurrent senders are served in order and, over any window of T seconds, at most
 * `burst + rate × T` bytes go out.
 */
export class UploadBudget {
  private rate: number
  private burst: number
  private maxConnections: number
  private tokens: number
  private last: number
  private readonly now: () => number
  private readonly slots = new Map<string, number>()

  constructor (init: UploadBudgetInit) {
    this.now = init.now ?? (() => performance.now())
    this.rate = init.rateBytesPerSec
    this.burst = init.burstBytes ?? init.rateBytesPerSec
    this.maxConnections = init.maxConnections
    this.tokens = this.burst
    this.last = this.now()
  }

  configure ({ rateBytesPerSec, maxConnections, burstBytes }: { rateBytesPerSec: number, maxConnections: number, burstBytes?: number }): void {
    this.refill()
    this.rate = rateBytesPerSec
    this.burst = burstBytes ?? rateBytesPerSec
    this.tokens = Math.min(this.tokens, this.burst)
    this.maxConnections = maxConnections
  }

  private refill (): void {
    const now = this.now()
    this.tokens = Math.min(this.burst, this.tokens + (now - this.last) / 1000 * this.rate)
    this.last = now
  }

  /** Takes `bytes` from the bucket; returns how many milliseconds to wait before sending them. */
  reserve (bytes: number): number {
    this.refill()
    this.tokens -= bytes
    return this.tokens >= 0 ? 0 : -this.tokens / this.rate * 1000
  }

  /** Returns bytes that were reserved but not sent. */
  refund (bytes: number): void {
    this.refill()
    this.tokens = Math.min(this.burst, this.tokens + bytes)
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
