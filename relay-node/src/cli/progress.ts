/**
 * `peerloom publish`'s progress line on stderr: percent, MiB done of the total, a smoothed rate
 * and an ETA that appears once enough has been read to estimate it. Drawn only on a terminal:
 * a pipe or a log file (and `--quiet`) gets no progress at all.
 */
import cliProgress from 'cli-progress'
import { ProgressMeter, formatBytes, formatDuration } from '@peerloom/shared/progress'
import type { PublishProgress as Progress } from '@peerloom/shared/provider'

/** The progress line of one publish; does nothing unless `enabled` (a TTY without --quiet). */
export class PublishProgress {
  private readonly bar?: cliProgress.SingleBar
  private meter?: ProgressMeter

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
    this.meter = new ProgressMeter(total)
    this.bar?.start(Math.max(total, 1), 0, { text: describe(this.meter.update(0)) })
  }

  update (bytes: number, chunks: number): void {
    if (this.bar === undefined || this.meter === undefined) return
    this.bar.update(bytes, { text: `${describe(this.meter.update(bytes))} · ${chunks} chunks` })
  }

  stop (): void {
    this.bar?.stop()
  }
}

/** `12.0 MiB of 100.0 MiB · 4.1 MiB/s · 19 s left`: what the progress line says after its bar. */
export function describe (progress: Progress): string {
  return [
    `${formatBytes(progress.bytes)} of ${formatBytes(progress.total)}`,
    progress.bytesPerSecond === null ? undefined : `${formatBytes(progress.bytesPerSecond)}/s`,
    progress.etaSeconds === null ? 'estimating time left' : `${formatDuration(progress.etaSeconds)} left`
  ].filter(part => part !== undefined).join(' · ')
}
