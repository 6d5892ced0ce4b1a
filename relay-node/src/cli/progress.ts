/**
 * `peerloom publish`'s progress line on stderr: percent, MiB done of the total, a smoothed rate
 * and an ETA that appears once enough has been read to estimate it. Drawn only on a terminal:
 * a pipe or a log file (and `--quiet`) gets no progress at all.
 */
import cliProgress from 'cli-progress'

/** Seconds the rate is averaged over: a moving window, so a burst or a stall moves the ETA gently. */
const RATE_WINDOW_S = 10
/** No ETA before this much time has passed and this share of the file is sealed. */
const ETA_AFTER_S = 1
const ETA_AFTER_SHARE = 0.02

/** `1.5 KiB`, `12.3 MiB`, `2.00 GiB`: binary units, three significant digits. */
export function formatBytes (bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB']
  let value = bytes
  let unit = 0
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024
    unit++
  }
  if (unit === 0) return `${bytes} B`
  return `${value >= 100 ? value.toFixed(0) : value >= 10 ? value.toFixed(1) : value.toFixed(2)} ${units[unit] as string}`
}

/** `45 s`, `3 min 20 s`, `1 h 05 min`. */
export function formatDuration (seconds: number): string {
  const s = Math.max(0, Math.round(seconds))
  if (s < 60) return `${s} s`
  if (s < 3600) return `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, '0')} s`
  return `${Math.floor(s / 3600)} h ${String(Math.floor((s % 3600) / 60)).padStart(2, '0')} min`
}

/** The rate over a moving window and the ETA it gives; pure, so it can be checked without a terminal. */
export class RateEstimator {
  private readonly total: number
  private readonly started: number
  /** (ms, bytes done) samples within the window, oldest first. */
  private readonly samples: Array<{ at: number, bytes: number }>

  constructor (total: number, now: number) {
    this.total = total
    this.started = now
    this.samples = [{ at: now, bytes: 0 }]
  }

  /** Records that `bytes` are done at `now` (ms). */
  update (bytes: number, now: number): void {
    this.samples.push({ at: now, bytes })
    // keep one sample at or before the window's start, so the window stays full
    while (this.samples.length > 2 && (this.samples[1] as { at: number }).at <= now - RATE_WINDOW_S * 1000) this.samples.shift()
  }

  /** Bytes per second over the window, once any time has passed. */
  bytesPerSecond (): number | undefined {
    const first = this.samples[0] as { at: number, bytes: number }
    const last = this.samples[this.samples.length - 1] as { at: number, bytes: number }
    if (last.at <= first.at) return undefined
    return (last.bytes - first.bytes) / ((last.at - first.at) / 1000)
  }

  /** Seconds left, or undefined while there is too little to go on. */
  secondsLeft (now: number): number | undefined {
    const done = (this.samples[this.samples.length - 1] as { bytes: number }).bytes
    const rate = this.bytesPerSecond()
    if (rate === undefined || rate <= 0) return undefined
    if ((now - this.started) / 1000 < ETA_AFTER_S || done < this.total * ETA_AFTER_SHARE) return undefined
    return (this.total - done) / rate
  }
}

/** The progress line of one publish; does nothing unless `enabled` (a TTY without --quiet). */
export class PublishProgress {
  private readonly bar?: cliProgress.SingleBar
  private estimator?: RateEstimator
  private total = 0

  constructor (enabled: boolean, stream: NodeJS.WriteStream = process.stderr) {
    if (!enabled) return
    this.bar = new cliProgress.SingleBar({
      stream,
      hideCursor: true,
      fps: 5,
      barsize: 24,
      format: (options, params, payload: { text?: string }) => {
        const width = options.barsize ?? 24
        const filled = Math.round(params.progress * width)
        return `sealing ${'█'.repeat(filled)}${'░'.repeat(width - filled)} ${Math.floor(params.progress * 100)}% · ${payload.text ?? ''}`
      }
    })
  }

  start (total: number): void {
    this.total = total
    this.estimator = new RateEstimator(total, Date.now())
    this.bar?.start(Math.max(total, 1), 0, { text: this.describe(0, Date.now()) })
  }

  update (bytes: number, chunks: number): void {
    if (this.bar === undefined || this.estimator === undefined) return
    const now = Date.now()
    this.estimator.update(bytes, now)
    this.bar.update(bytes, { text: `${this.describe(bytes, now)} · ${chunks} chunks` })
  }

  stop (): void {
    this.bar?.stop()
  }

  private describe (bytes: number, now: number): string {
    const rate = this.estimator?.bytesPerSecond()
    const left = this.estimator?.secondsLeft(now)
    return [
      `${formatBytes(bytes)} of ${formatBytes(this.total)}`,
      rate === undefined ? undefined : `${formatBytes(rate)}/s`,
      left === undefined ? 'estimating time left' : `${formatDuration(left)} left`
    ].filter(part => part !== undefined).join(' · ')
  }
}
