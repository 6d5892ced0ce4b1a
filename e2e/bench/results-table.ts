/**
 * The Markdown tables bench:transfer and bench:stream print at the end of a run, from the entry
 * they append to bench/results/*.json; the READMEs' "Latest results" tables are pasted from them.
 */
import { describeCheckout } from '../../shared/bench/results-log.ts'
import { median } from './median.ts'

/** CPU ms per MB by Chromium process kind (`browser`, `utility` = network service, `renderer`, …). */
export type CpuPerMB = Record<string, number>

export interface ProcessMemory {
  /** Resident set, including pages shared with the zygote and other renderers. */
  rssMiB: number
  /** Proportional set: shared pages divided among the processes sharing them. */
  pssMiB: number
  /** Pages only this process uses. */
  privateMiB: number
}

/** One size of a bench:transfer run, as results/transfer.json stores it. */
export interface TransferSize {
  sizeMiB: number
  baselineMBps: number
  nodeMBps: number
  ratio: number
  baselineRuns: number[]
  nodeRuns: number[]
  baselineCpuMsPerMB: number
  nodeCpuMsPerMB: number
  cpuRatio: number
  baselineCpuByProcess: CpuPerMB
  nodeCpuByProcess: CpuPerMB
}

export interface TransferRun {
  date: string
  commit?: string
  dirty?: boolean
  runs: number
  sizes: TransferSize[]
  coldFirstByteMs: { median: number, runs: number[] }
  idleNodeMemory: { fresh: ProcessMemory, afterServing: ProcessMemory }
  loadAverage: { before: string, after: string }
}

/** A median with the extremes it came from, as results/stream.json stores each measure. */
export interface Spread { median: number, min: number, max: number, n: number, values?: number[] }

export interface StreamRun {
  date: string
  commit?: string
  dirty?: boolean
  runs: number
  sizeMiB: number
  viewerMiB: number
  cores: number
  loadAverage: { before: string, after: string }
  pageMBps: Spread
  nodeMBps: Spread
  /** median page MB/s / median node-path MB/s */
  ratio: number
  /** runs that could not reach the peer and were repeated */
  failedRuns: number
  warmFirstByteMs: Spread
  /** the first load reads the video cold from the origin; `coldMs` is that one */
  firstFrameMs: Spread & { coldMs: number }
  seekMs: Spread
  /** bytes from peers / all bytes, over all rounds; per round; per viewer (percent) */
  fromPeers: { share: number, rounds: number[], viewers: number[][] }
}

/** Median, min and max of measured values. */
export function spread (values: number[]): Spread {
  return { median: median(values), min: Math.min(...values), max: Math.max(...values), n: values.length, values }
}

const range = (s: Spread, digits: number): string => `${s.median.toFixed(digits)} (${s.min.toFixed(digits)}–${s.max.toFixed(digits)})`
const check = (ok: boolean): string => ok ? 'met' : '**missed**'

/** The one results table of a bench:transfer run. */
export function transferTable (run: TransferRun): string {
  const rows: string[] = []
  for (const s of run.sizes) {
    const baseline = spread(s.baselineRuns)
    const node = spread(s.nodeRuns)
    rows.push(
      `| ${s.sizeMiB} MiB: baseline (Helia page → page) / node path (extension A → B) | ${range(baseline, 1)} / ${range(node, 1)} MB/s | |`,
      `| ${s.sizeMiB} MiB: ratio node / baseline (CPU ms per MB, baseline / node path, ratio) | **${s.ratio.toFixed(2)}** (${s.baselineCpuMsPerMB.toFixed(0)} / ${s.nodeCpuMsPerMB.toFixed(0)}, ${s.cpuRatio.toFixed(2)}) | ≥ 0.9: ${check(s.ratio >= 0.9)} |`
    )
  }
  const big = run.sizes.at(-1)
  if (big !== undefined) {
    const kinds = (cpu: CpuPerMB): string => ['renderer', 'utility', 'browser'].map(kind => (cpu[kind] ?? 0).toFixed((cpu[kind] ?? 0) < 10 ? 1 : 0)).join(' / ')
    rows.push(`| ${big.sizeMiB} MiB: CPU ms per MB by process kind, node path (baseline): renderers / network service / browser process | ${kinds(big.nodeCpuByProcess)} (${kinds(big.baselineCpuByProcess)}) | |`)
  }
  const cold = spread(run.coldFirstByteMs.runs)
  rows.push(`| cold first byte, no connection → first plaintext byte (n=${cold.n}) | ${range(cold, 0)} ms | ≤ 500 ms: ${check(cold.median <= 500)} |`)
  const { fresh, afterServing } = run.idleNodeMemory
  rows.push(`| idle node memory, extension renderer after 15 s idle: fresh / after serving | PSS ${fresh.pssMiB.toFixed(0)} / ${afterServing.pssMiB.toFixed(0)} MiB, private ${fresh.privateMiB.toFixed(0)} / ${afterServing.privateMiB.toFixed(0)} MiB (RSS ${fresh.rssMiB.toFixed(0)} / ${afterServing.rssMiB.toFixed(0)}) | ≤ 150 MB: ${check(Math.max(fresh.pssMiB, afterServing.pssMiB) * 1.048576 <= 150)} |`)
  return [
    `bench:transfer — ${run.date.slice(0, 16)}Z, ${describeCheckout(run)}; medians of ${run.runs} runs per size (min–max); load average ${run.loadAverage.before} → ${run.loadAverage.after}`,
    '',
    '| measure | result | target |',
    '|---|---|---|',
    ...rows
  ].join('\n')
}

/** The one results table of a bench:stream run. */
export function streamTable (run: StreamRun): string {
  const { fromPeers: peers } = run
  const pct = (share: number): string => `${(share * 100).toFixed(1)} %`
  return [
    `bench:stream — ${run.date.slice(0, 16)}Z, ${describeCheckout(run)}; ${run.runs} runs (medians, min–max in brackets); ${run.cores} cores, load average ${run.loadAverage.before} at the start, ${run.loadAverage.after} at the end`,
    '',
    '| measure | result | target | |',
    '|---|---|---|---|',
    `| page-visible full fetch from a peer (${run.sizeMiB} MiB) | ${range(run.pageMBps, 1)} MB/s | — | — |`,
    `| node path, same content, same peer | ${range(run.nodeMBps, 1)} MB/s | — | — |`,
    `| ratio page / node path${run.failedRuns === 0 ? '' : ` (${run.failedRuns} run(s) failed to reach the peer and were repeated)`} | ${run.ratio.toFixed(2)} | ≥ 0.9 | ${check(run.ratio >= 0.9)} |`,
    `| warm time to first byte, 1 MiB range (n=${run.warmFirstByteMs.n}) | ${range(run.warmFirstByteMs, 1)} ms | ≤ 80 ms | ${check(run.warmFirstByteMs.median <= 80)} |`,
    `| video time to first frame (n=${run.firstFrameMs.n}; first load cold from the origin: ${run.firstFrameMs.coldMs.toFixed(0)} ms) | ${range(run.firstFrameMs, 0)} ms | ≤ 1000 ms | ${check(run.firstFrameMs.median <= 1000)} |`,
    `| seek latency, seek → next frame shown (n=${run.seekMs.n}) | ${range(run.seekMs, 0)} ms | ≤ 300 ms | ${check(run.seekMs.median <= 300)} |`,
    `| 5 viewers in turn (${run.viewerMiB} MiB each), ${peers.rounds.length} round(s): bytes from peers, all rounds together (each round; each viewer) | ${pct(peers.share)} (${peers.rounds.map(pct).join(', ')}; ${peers.viewers.map(round => round.map(v => v.toFixed(0)).join('/')).join(', ')}) | ≥ 75 % | ${check(peers.share >= 0.75)} |`
  ].join('\n')
}
