/**
 * Guards against cache probing by timing. A site could fetch a link and time the answer: a
 * cached answer (first byte in a few ms, hundreds of MB/s) would tell it that this browser
 * fetched the content before — possibly for another site. So when an origin fetches content
 * it has never fetched before and the answer starts from the cache, the guard holds the first
 * byte back to the node's recent network first-byte time and paces the cached bytes at its
 * recent network rate: to that origin, the answer looks like a network fetch. Once the origin
 * has fetched the content, its own repeat fetches are fast (it learns nothing it did not cause).
 */
import { DEFAULT_COLD_FIRST_BYTE_MS, DEFAULT_NETWORK_BYTES_PER_SEC, TIMING_SAMPLES } from '../constants.ts'
import type { PageApiDb } from './page-db.ts'

export interface TimingGuardInit {
  db: PageApiDb
  now?: () => number
  sleep?: (ms: number) => Promise<void>
}

/** The pacing for one answer: call `beforeChunk` before each chunk goes to the page. */
export interface AnswerPacer {
  beforeChunk: (bytes: number, fromCacheOnly: boolean) => Promise<void>
}

function median (values: number[], fallback: number): number {
  if (values.length === 0) return fallback
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.floor(sorted.length / 2)] as number
}

export class CacheTimingGuard {
  private readonly db: PageApiDb
  private readonly now: () => number
  private readonly sleep: (ms: number) => Promise<void>
  private readonly firstByteSamples: number[] = []
  private readonly rateSamples: number[] = []

  constructor (init: TimingGuardInit) {
    this.db = init.db
    this.now = init.now ?? (() => performance.now())
    this.sleep = init.sleep ?? (async ms => { await new Promise(resolve => setTimeout(resolve, ms)) })
  }

  /** Typical first-byte time of content that came over the network, ms. */
  get coldFirstByteMs (): number {
    return median(this.firstByteSamples, DEFAULT_COLD_FIRST_BYTE_MS)
  }

  /** Typical network rate, bytes per second. */
  get networkRate (): number {
    return median(this.rateSamples, DEFAULT_NETWORK_BYTES_PER_SEC)
  }

  /** Records a fetch that came over the network (no cached bytes), to keep the medians honest. */
  recordNetwork (firstByteMs: number, bytes: number, seconds: number): void {
    push(this.firstByteSamples, firstByteMs)
    if (bytes >= 1024 * 1024 && seconds > 0) push(this.rateSamples, bytes / seconds)
  }

  /** True when `origin` has fetched `manifest` before; marks it fetched from now on. */
  async seen (origin: string, manifest: string): Promise<boolean> {
    const key = `${origin} ${manifest}`
    if (await this.db.get('seen', key) !== undefined) return true
    await this.db.put('seen', Date.now(), key)
    return false
  }

  /** Forgets what `origin` fetched (consent revoked). */
  async forget (origin: string): Promise<void> {
    const range = IDBKeyRange.bound(`${origin} `, `${origin} \uffff`)
    await this.db.delete('seen', range)
  }

  /**
   * A pacer for an answer that started at `startedAt`. For a first fetch (`firstTime`), chunks
   * served from the cache alone are held to the network profile; otherwise nothing is delayed.
   */
  pacer (startedAt: number, firstTime: boolean): AnswerPacer {
    if (!firstTime) return { beforeChunk: async () => {} }
    let released = 0
    const firstByte = this.coldFirstByteMs
    const rate = this.networkRate
    return {
      beforeChunk: async (bytes, fromCacheOnly) => {
        if (fromCacheOnly) {
          const due = startedAt + firstByte + (released / rate) * 1000
          const wait = due - this.now()
          if (wait > 0) await this.sleep(wait)
        }
        released += bytes
      }
    }
  }
}

function push (samples: number[], value: number): void {
  samples.push(value)
  if (samples.length > TIMING_SAMPLES) samples.shift()
}
