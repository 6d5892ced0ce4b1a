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
  /**
   * `plain`: ordinary pages, the bench signals (the baseline); `mesh`: `peerloom.call.join`;
   * `forwarded`: the same through a forwarder; `forwarder-engine`: plain pages through the
   * extension's forwarder engine in a page of its own, signalled by the bench (no node, no E2EE);
   * `failover`: a forwarded Peerloom room whose forwarder's browser is killed mid-window
   */
  kind: 'plain' | 'mesh' | 'forwarded' | 'forwarder-engine' | 'failover'
  participants: number
  /** the last participant's join → its first decoded remote frame, ms (one value per join) */
  joinMs: number[]
  joinToFirstFrameMs: Quantiles
  /** the same join → the first remote video track handed to the page (the rest, to the first frame, is waiting for a decodable frame) */
  joinToTrackMs?: Quantiles
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
  /** per receiver and sender, the longest time without a decoded frame in a window (to its end if none came back): the failover gap of `failover` */
  longestGapMs?: Quantiles
  /** chat sends refused (each stops its page's chat for the window), with the reason */
  chatErrors?: string[]
  /** `failover`: per window, which forwarder was killed and how the pages carried the call at the window's end */
  failover?: Array<Record<string, unknown>>
  /** the forwarder's browser: CPU (% of a core), by kind, streams forwarded (one sender's track to one subscriber) and CPU / streams */
  forwarder?: { cpuPct: number, cpuByKindPct: CpuByKind, load: number, cpuPerStreamPct: number }
  /** calls that did not connect (the reason), not counted in the figures */
  failures: string[]
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
  /** |page clock − bench clock| for each page, largest seen, half the best round trip it was read with, and the largest offset removed (only offsets beyond their uncertainty are) */
  clock: { largestOffsetMs: number, uncertaintyMs: number, largestRemovedMs?: number }
  configs: CallConfig[]
}

const q = (x: Quantiles, digits = 0): string => x.n === 0 ? '—' : `${x.p50.toFixed(digits)} / ${x.p95.toFixed(digits)} (n=${x.n})`
const pct = (x: number): string => `${(x * 100).toFixed(1)} %`
const KIND_LABELS: Record<CallConfig['kind'], string> = { plain: 'plain pages (baseline)', mesh: 'Peerloom mesh', forwarded: 'Peerloom forwarded', 'forwarder-engine': 'plain pages via the forwarder engine', failover: 'Peerloom forwarded, forwarder killed' }
const label = (c: CallConfig): string => `${KIND_LABELS[c.kind]}, ${c.participants}${c.failures.length === 0 ? '' : ` (${c.failures.length} call(s) did not connect)`}`

/** Each Peerloom kind and size against the plain pages of the same size, and the goals. */
function goalRows (run: CallRun): string[] {
  const rows: string[] = []
  const ratio = (a: number, b: number): string => Number.isFinite(a / b) ? (a / b).toFixed(2) : '—'
  for (const c of run.configs.filter(c => c.kind !== 'plain' && c.windows > 0)) {
    const base = run.configs.find(b => b.kind === 'plain' && b.participants === c.participants)
    const name = label(c)
    const join = c.joinToFirstFrameMs
    rows.push(`| ${name}: join → first remote frame p50 / p95 | ${join.p50.toFixed(0)} / ${join.p95.toFixed(0)} ms${base === undefined ? '' : ` (× ${ratio(join.p50, base.joinToFirstFrameMs.p50)} / × ${ratio(join.p95, base.joinToFirstFrameMs.p95)} of plain)`} | ≤ 400 / ≤ 800 ms | ${check(join.p50 <= 400 && join.p95 <= 800)} |`)
    if (c.kind === 'failover' && c.longestGapMs !== undefined) rows.push(`| ${name}: failover gap (longest time without a decoded frame, per receiver and sender) p50 / p95 | ${c.longestGapMs.p50.toFixed(0)} / ${c.longestGapMs.p95.toFixed(0)} ms (n=${c.longestGapMs.n}) | p95 ≤ 2000 ms | ${check(c.longestGapMs.p95 <= 2000)} |`)
    rows.push(`| ${name}: decoded frames whose stamp reads (the picture that was sent arrives) | ${pct(1 - c.undecodableShare)} | ≥ 99 % | ${check(c.undecodableShare <= 0.01)} |`)
    if (base === undefined) continue
    const g2g = ratio(c.glassToGlassMs.p50, base.glassToGlassMs.p50)
    if (c.kind === 'forwarded' || c.kind === 'forwarder-engine') {
      const hop = c.glassToGlassMs.p50 - base.glassToGlassMs.p50
      rows.push(`| ${name}: glass to glass p50 / p95 − plain (one forwarder hop) | ${signed(hop)} / ${signed(c.glassToGlassMs.p95 - base.glassToGlassMs.p95)} ms | p50 ≤ +20 ms | ${check(hop <= 20)} |`)
    }
    if (c.forwarder !== undefined) rows.push(`| ${name}: forwarder CPU per forwarded stream (its browser ${c.forwarder.cpuPct.toFixed(0)} % of a core / ${c.forwarder.load} streams) | ${c.forwarder.cpuPerStreamPct.toFixed(1)} % of a core | ≤ 10 % | ${check(c.forwarder.cpuPerStreamPct <= 10)} |`)
    if (c.kind === 'mesh') rows.push(`| ${name}: glass to glass p50 / p95, × plain | × ${g2g} / × ${ratio(c.glassToGlassMs.p95, base.glassToGlassMs.p95)} | p50 ≤ × 1.1 | ${check(c.glassToGlassMs.p50 <= 1.1 * base.glassToGlassMs.p50)} |`)
    rows.push(`| ${name}: CPU per participant, × plain | × ${ratio(c.cpuPerParticipantPct, base.cpuPerParticipantPct)} (${c.cpuPerParticipantPct.toFixed(0)} % / ${base.cpuPerParticipantPct.toFixed(0)} %) | — | — |`)
    if (c.chatOneWayMs.n > 0) rows.push(`| ${name}: chat one way p50, × plain data channel | × ${ratio(c.chatOneWayMs.p50, base.chatOneWayMs.p50)} (${c.chatOneWayMs.p50.toFixed(1)} / ${base.chatOneWayMs.p50.toFixed(1)} ms) | — | — |`)
  }
  return rows
}

const signed = (x: number): string => `${x >= 0 ? '+' : '−'}${Math.abs(x).toFixed(0)}`
const check = (ok: boolean): string => ok ? 'met' : '**missed**'

/** The one results table of a bench:call run. */
export function callTable (run: CallRun): string {
  const goals = goalRows(run)
  const rows = run.configs.map(c => c.windows === 0 ? `| ${label(c)}: ${c.failures[0] ?? 'no window'} | | | | | | | | |` : `| ${label(c)} | ${q(c.joinToFirstFrameMs)} (track ${c.joinToTrackMs === undefined ? '—' : c.joinToTrackMs.p50.toFixed(0)}) | ${q(c.joinToAllFramesMs)} | ${q(c.glassToGlassMs)} | ${q(c.stampToReceivedMs)} | ${c.sentFps.toFixed(0)} / ${c.receivedFps.toFixed(0)}, ${c.decodedHeight.toFixed(0)}p | ${pct(c.undecodableShare)} / ${pct(c.lostShare)} | ${c.cpuPerParticipantPct.toFixed(0)} % | ${q(c.chatOneWayMs, 1)}${(c.chatErrors?.length ?? 0) === 0 ? '' : `; ${c.chatErrors!.length} page(s) had a send refused: ${c.chatErrors![0]!.replace(/^[^:]*: /, '')}`} |`)
  return [
    `bench:call — ${run.date.slice(0, 16)}Z, ${describeCheckout(run)}; Chromium ${run.chromium}; ${run.cores} cores, load average ${run.loadAverage.before} at the start, ${run.loadAverage.after} at the end; page clocks within ${run.clock.largestOffsetMs.toFixed(1)} ms of the bench's (read ±${run.clock.uncertaintyMs.toFixed(1)} ms; ${(run.clock.largestRemovedMs ?? 0) === 0 ? 'none told apart from 0' : `up to ${run.clock.largestRemovedMs!.toFixed(1)} ms removed from the cross-page figures`})`,
    '',
    'p50 / p95 in ms (sample size)',
    '',
    `| carried by, participants | join → first remote frame (p50 join → its track) | join → frames from all | glass to glass | of which to last packet in | fps sent / received, size | stamps unread / frames lost | CPU per participant (% of a core) | chat one way (${run.chatBytes} B) |`,
    '|---|---|---|---|---|---|---|---|---|',
    ...rows,
    ...(goals.length === 0 ? [] : ['', '| against the baseline and the goals | result | goal | |', '|---|---|---|---|', ...goals])
  ].join('\n')
}
