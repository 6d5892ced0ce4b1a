/**
 * Progress of a long transfer as people read it: a rate and an ETA that do not jump, and
 * byte counts and durations in human units. The page API's publish, the SDK and
 * `peerloom publish` all show progress through these.
 */
import type { PublishProgress } from './provider.ts'

/** `512 B`, `1.5 KiB`, `2.0 GiB`: binary units (1 MiB = 1024 KiB), as file managers show them. */
export function formatBytes (bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB']
  let value = bytes
  let unit = 0
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024
    unit++
  }
  return `${unit === 0 ? Math.round(value) : value.toFixed(1)} ${units[unit] as string}`
}

/** `45 s`, `3 min 20 s`, `1 h 05 min`. */
export function formatDuration (seconds: number): string {
  const s = Math.max(0, Math.round(seconds))
  if (s < 60) return `${s} s`
  if (s < 3600) return `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, '0')} s`
  return `${Math.floor(s / 3600)} h ${String(Math.floor((s % 3600) / 60)).padStart(2, '0')} min`
}

export interface ProgressMeterOptions {
  /** Time for an old rate sample's weight to halve. @default 2000 */
  halfLifeMs?: number
  /** Updates closer together than this are folded into the next sample. @default 250 */
  minSampleMs?: number
  /** No rate or ETA before this much time and two samples. @default 1000 */
  warmupMs?: number
  now?: () => number
}

/**
 * Turns "bytes so far" into a rate and an ETA that do not jump: the rate is an exponential
 * moving average weighted by time (so bursts, like the first credit window, are smoothed),
 * and nothing is estimated until there is enough data.
 */
export class ProgressMeter {
  readonly total: number
  private readonly halfLifeMs: number
  private readonly minSampleMs: number
  private readonly warmupMs: number
  private readonly now: () => number
  private readonly startedAt: number
  private lastAt: number
  private lastBytes = 0
  private rate: number | null = null
  private samples = 0

  constructor (total: number, options: ProgressMeterOptions = {}) {
    this.total = total
    this.halfLifeMs = options.halfLifeMs ?? 2000
    this.minSampleMs = options.minSampleMs ?? 250
    this.warmupMs = options.warmupMs ?? 1000
    this.now = options.now ?? (() => performance.now())
    this.startedAt = this.now()
    this.lastAt = this.startedAt
  }

  update (bytes: number): PublishProgress {
    const at = this.now()
    const dt = at - this.lastAt
    if (dt >= this.minSampleMs) {
      const instant = Math.max(0, bytes - this.lastBytes) / (dt / 1000)
      const weight = 1 - 2 ** (-dt / this.halfLifeMs)
      this.rate = this.rate === null ? instant : this.rate + weight * (instant - this.rate)
      this.samples++
      this.lastAt = at
      this.lastBytes = bytes
    }
    const ready = this.rate !== null && this.rate > 0 && this.samples >= 2 && at - this.startedAt >= this.warmupMs
    const left = Math.max(0, this.total - bytes)
    return {
      bytes,
      total: this.total,
      fraction: this.total === 0 ? 1 : Math.min(1, bytes / this.total),
      bytesPerSecond: ready ? this.rate : null,
      etaSeconds: left === 0 ? 0 : ready ? left / (this.rate as number) : null
    }
  }
}

