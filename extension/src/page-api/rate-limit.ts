/** A token bucket per origin: a page that floods the API gets RATE_LIMITED, others are unaffected. */
import { ORIGIN_CALLS_PER_SECOND, ORIGIN_CALL_BURST } from './constants.ts'

export interface OriginRateLimitInit {
  /** @default ORIGIN_CALLS_PER_SECOND */
  perSecond?: number
  /** @default ORIGIN_CALL_BURST */
  burst?: number
  now?: () => number
}

export class OriginRateLimit {
  private readonly perSecond: number
  private readonly burst: number
  private readonly now: () => number
  private readonly buckets = new Map<string, { tokens: number, at: number }>()

  constructor (init: OriginRateLimitInit = {}) {
    this.perSecond = init.perSecond ?? ORIGIN_CALLS_PER_SECOND
    this.burst = init.burst ?? ORIGIN_CALL_BURST
    this.now = init.now ?? (() => Date.now())
  }

  /** Spends one call for `origin`; false when its bucket is empty. */
  take (origin: string): boolean {
    const now = this.now()
    const bucket = this.buckets.get(origin) ?? { tokens: this.burst, at: now }
    bucket.tokens = Math.min(this.burst, bucket.tokens + (now - bucket.at) * this.perSecond / 1000)
    bucket.at = now
    this.buckets.set(origin, bucket)
    if (bucket.tokens < 1) return false
    bucket.tokens -= 1
    return true
  }

  /** Seconds until `origin` may call again. */
  retryAfter (origin: string): number {
    const bucket = this.buckets.get(origin)
    if (bucket === undefined || bucket.tokens >= 1) return 0
    return (1 - bucket.tokens) / this.perSecond
  }
}
