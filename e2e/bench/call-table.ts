/**
 * bench:call's figures as results/call.json stores them, and the Markdown table the bench prints
 * at the end of a run (call.README.md's "Latest results" is pasted from it).
 */
import { describeCheckout } from '../../shared/bench/results-log.ts'
import { median } from './median.ts'
import type { CpuByKind } from './call-cpu.ts'

/** p50 and p95 (nearest rank) of a sample, with its size and extremes. */
export interface Quantiles { p50: number, p95: number, min: number, max: number, n: number }

export function quantiles (values: number[]): Quantiles {
  if (values.length === 0) return { p50: Number.NaN, p95: Number.NaN, min: Number.NaN, max: Number.NaN, n: 0 }
  const sorted = [...values].sort((a, b) => a - b)
  return { p50: median(sorted), p95: sorted[Math.ceil(0.95 * sorted.length) - 1]!, min: sorted[0]!, max: sorted.at(-1)!, n: sorted.length }
}

/** One way of carrying a call with one number of participants, as measured in one bench run. */
export interface CallConfig {
  /** `plain`: ordinary pages, the bench signals (the baseline); `mesh`: `peerloom.call.join`; `forwarded`: through a forwarder */
  kind: 'plain' | 'mesh' | 'forwarded'
  participants: number
  /** the last participant's join → its first decoded remote frame, ms (one value per join) */
  joinMs: number[]
  joinToFirstFrameMs: Quantiles
  /** the same join → a decoded frame from every other participant */
  joinToAllFramesMs: Quantiles
  /** stamp drawn → expected display time of the decoded frame, every frame of every receiver, clock skew removed */
  glassToGlassMs: Quantiles
  /** the part of it until the frame's last packet was received (before jitter buffer, decoder and display) */
  stampToReceivedMs: Quantiles
  /** frames per second each sender drew (median) */
  sentFps: number
  /** height of the decoded frames at the end of a window (median over streams; sent at 480) */
  decodedHeight: number
  /** decoded frames per second per receiver stream (median over streams and windows) */
  receivedFps: number
  /** frames whose stamp did not read (CRC mismatch) / decoded frames */
  undecodableShare: number
  /** frames the receivers never decoded, by the stamps' counters / frames that were sent to them */
  lostShare: number
  /** CPU of one participant's whole browser, % of one core (median over participants and windows) */
  cpuPerParticipantPct: number
  /** the same by process kind (mean per participant), % of one core */
  cpuByKindPct: CpuByKind
  /** chat messages of `chatBytes`, send → receive, clock skew removed */
  chatOneWayMs: Quantiles
  windows: number
  windowMs: number
}

export interface CallRun {
  date: string
  commit?: string
  dirty?: boolean
  cores: number
  loadAverage: { before: string, after: string }
  chromium: string
  chatBytes: number
  /** |page clock − bench clock| for each page, largest seen, and half the best round trip it was read with */
  clock: { largestOffsetMs: number, uncertaintyMs: number }
  configs: CallConfig[]
}

const q = (x: Quantiles, digits = 0): string => x.n === 0 ? '—' : `${x.p50.toFixed(digits)} / ${x.p95.toFixed(digits)} (n=${x.n})`
const pct = (x: number): string => `${(x * 100).toFixed(1)} %`
const label = (c: CallConfig): string => `${c.kind === 'plain' ? 'plain pages (baseline)' : c.kind === 'mesh' ? 'Peerloom mesh' : 'Peerloom forwarded'}, ${c.participants}`

/** The one results table of a bench:call run. */
export function callTable (run: CallRun): string {
  const rows = run.configs.map(c => `| ${label(c)} | ${q(c.joinToFirstFrameMs)} | ${q(c.joinToAllFramesMs)} | ${q(c.glassToGlassMs)} | ${q(c.stampToReceivedMs)} | ${c.sentFps.toFixed(0)} / ${c.receivedFps.toFixed(0)}, ${c.decodedHeight.toFixed(0)}p | ${pct(c.undecodableShare)} / ${pct(c.lostShare)} | ${c.cpuPerParticipantPct.toFixed(0)} % | ${q(c.chatOneWayMs, 1)} |`)
  return [
    `bench:call — ${run.date.slice(0, 16)}Z, ${describeCheckout(run)}; Chromium ${run.chromium}; ${run.cores} cores, load average ${run.loadAverage.before} at the start, ${run.loadAverage.after} at the end; page clocks within ${run.clock.largestOffsetMs.toFixed(1)} ms of the bench's (±${run.clock.uncertaintyMs.toFixed(1)} ms), removed from the cross-page figures`,
    '',
    'p50 / p95 in ms (sample size)',
    '',
    `| carried by, participants | join → first remote frame | join → frames from all | glass to glass | of which to last packet in | fps sent / received, size | stamps unread / frames lost | CPU per participant (% of a core) | chat one way (${run.chatBytes} B) |`,
    '|---|---|---|---|---|---|---|---|---|',
    ...rows
  ].join('\n')
}
