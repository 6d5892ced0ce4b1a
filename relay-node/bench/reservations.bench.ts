/**
 * `npm run bench:relay`: how one relay holds 100, 500 and 1,000 concurrent reservations on
 * loopback. For each level a fresh relay process starts; client worker processes reserve on
 * it (timing each reservation), the relay's RSS and CPU are read from /proc, then a dialer
 * worker opens relayed connections to the reserved clients for a few seconds to count
 * circuit setups per second. Prints the results table and appends the run to
 * bench/results/reservations.json. Method and results: bench/README.md.
 *
 * Options (environment): BENCH_LEVELS="100,500,1000", BENCH_WORKERS=2, BENCH_IN_FLIGHT=10
 * (reservations in flight per worker), BENCH_DIAL_SECONDS=8, BENCH_DIALERS=4,
 * BENCH_DIAL_CONCURRENCY=4 (dials in flight per dialer).
 */
import '../src/platform.ts'
import { fork, spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { cpus, tmpdir, totalmem } from 'node:os'
import { join } from 'node:path'
import { appendRun, describeCheckout } from '../../shared/bench/results-log.ts'
import type { WorkerReply, WorkerRequest } from './client-worker.ts'

const LEVELS = (process.env.BENCH_LEVELS ?? '100,500,1000').split(',').map(Number)
const WORKERS = Number(process.env.BENCH_WORKERS ?? 2)
const IN_FLIGHT = Number(process.env.BENCH_IN_FLIGHT ?? 10)
const DIAL_SECONDS = Number(process.env.BENCH_DIAL_SECONDS ?? 8)
const DIALERS = Number(process.env.BENCH_DIALERS ?? 4)
const DIAL_CONCURRENCY = Number(process.env.BENCH_DIAL_CONCURRENCY ?? 4)
/** Pause after the last reservation before measuring, so the ramp's work (GC, writes) is done. */
const SETTLE_MS = 10_000
/** Window over which the CPU cost of merely holding the reservations is measured. */
const HOLD_SAMPLE_MS = 10_000
/** The target this benchmark checks (DESIGN/issue 3). */
const RSS_TARGET_MB = 300
const TICKS_PER_SECOND = 100

/** Extra Node/V8 flags for the relay process, to compare settings (BENCH_RELAY_NODE_FLAGS="--max-semi-space-size=2"). */
const RELAY_NODE_FLAGS = (process.env.BENCH_RELAY_NODE_FLAGS ?? '').split(' ').filter(flag => flag !== '')
const RELAY_BIN = new URL('../bin/peerloom-relay.js', import.meta.url).pathname
const WORKER = new URL('./client-worker.ts', import.meta.url).pathname

interface Ready { peerId: string, multiaddrs: string[], http: string }

/** Every process this run started, killed on the way out whatever happens. */
const children = new Set<ChildProcess>()
process.once('exit', () => { for (const child of children) if (child.exitCode === null) child.kill('SIGKILL') })
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => { process.exit(130) })

function rssMb (pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find(candidate => candidate.startsWith('VmRSS:'))
  return Number(line?.split(/\s+/)[1] ?? Number.NaN) / 1024
}

/** CPU seconds (user + system) the process has used so far. */
function cpuSeconds (pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? []
  return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND
}

function percentile (values: number[], p: number): number {
  if (values.length === 0) return Number.NaN
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] as number
}

async function startRelay (data: string): Promise<{ child: ChildProcess, ready: Ready }> {
  const child = spawn(process.execPath, [...RELAY_NODE_FLAGS, RELAY_BIN,
    '--listen', '/ip4/127.0.0.1/tcp/0/ws', '--http', '127.0.0.1:0', '--data', data, '--json',
    // every bench client comes from 127.0.0.1: lift the per-IP caps, keep the global ones
    '--max-reservations', '2048', '--max-reservations-per-ip', '100000', '--max-connections-per-ip', '100000',
    '--connection-rate-per-ip', '100000', '--max-pending-connections', '1024', '--max-connections', '8192'
  ], { stdio: ['ignore', 'pipe', 'pipe'] })
  children.add(child)
  let stderr = ''
  child.stderr?.setEncoding('utf8').on('data', (text: string) => { stderr += text })
  const ready = await new Promise<Ready>((resolve, reject) => {
    child.stdout?.setEncoding('utf8').once('data', (text: string) => { resolve(JSON.parse(text.split('\n')[0] as string) as Ready) })
    child.once('exit', code => { reject(new Error(`relay exited ${String(code)}: ${stderr}`)) })
  })
  return { child, ready }
}

function worker (): { child: ChildProcess, ask: <T extends WorkerReply['type']>(request: WorkerRequest, expect: T) => Promise<Extract<WorkerReply, { type: T }>> } {
  const child = fork(WORKER, [], { execArgv: ['--import', 'tsx', '--max-old-space-size=8192'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
  child.on('error', err => { process.stderr.write(`  worker: ${err.message}\n`) })
  children.add(child)
  return {
    child,
    ask: async (request, expect) => await new Promise((resolve, reject) => {
      child.once('message', (reply: WorkerReply) => {
        if (reply.type === expect) resolve(reply as never)
        else reject(new Error(`worker answered ${reply.type}, expected ${expect}`))
      })
      child.once('exit', code => { reject(new Error(`worker exited ${String(code)}`)) })
      child.send(request)
    })
  }
}

interface Row {
  clients: number
  reserved: number
  failed: number
  retries: number
  p50: number
  p99: number
  rampSeconds: number
  rampCpu: number
  baselineRss: number
  rss: number
  idleCpu: number
  setupsPerSecond: number
  /** Relay CPU (cores) while the dialers ran. */
  dialCpu: number
  setupP50: number
  setupFailures: number
}

async function level (clients: number): Promise<Row> {
  const data = await mkdtemp(join(tmpdir(), 'peerloom-bench-'))
  const { child: relay, ready } = await startRelay(data)
  const pid = relay.pid as number
  const ws = ready.multiaddrs.find(addr => addr.includes('/ws/')) as string
  await new Promise(resolve => setTimeout(resolve, 1000))
  const baselineRss = rssMb(pid)
  const workers = Array.from({ length: WORKERS }, () => worker())
  try {
    const cpu0 = cpuSeconds(pid)
    const t0 = performance.now()
    const shares = workers.map((_, i) => Math.floor(clients / WORKERS) + (i < clients % WORKERS ? 1 : 0))
    const replies = await Promise.all(workers.map(async (w, i) => await w.ask({ type: 'reserve', relay: ws.replace(/\/p2p\/.*$/, `/p2p/${ready.peerId}`), relayPeer: ready.peerId, count: shares[i] as number, concurrency: IN_FLIGHT }, 'reserved')))
    const rampSeconds = (performance.now() - t0) / 1000
    const rampCpu = (cpuSeconds(pid) - cpu0) / rampSeconds
    const times = replies.flatMap(reply => reply.times)
    const addrs = replies.flatMap(reply => reply.addrs)
    const failures = replies.flatMap(reply => reply.failures)
    if (failures.length > 0) process.stderr.write(`  ${failures.length} reservations failed, e.g. ${(failures[0] ?? '').split('\n').slice(0, 3).join(' ')}\n`)

    // settle, then read memory and the idle cost of holding the reservations
    await new Promise(resolve => setTimeout(resolve, SETTLE_MS))
    const health = await (await fetch(`${ready.http}/health`)).json() as { reservations: number }
    const cpu1 = cpuSeconds(pid)
    await new Promise(resolve => setTimeout(resolve, HOLD_SAMPLE_MS))
    const idleCpu = (cpuSeconds(pid) - cpu1) / (HOLD_SAMPLE_MS / 1000)
    const rss = rssMb(pid)
    const memory = (await (await fetch(`${ready.http}/metrics`)).text()).split('\n').filter(line => line.startsWith('nodejs_memory_usage_bytes{')).map(line => `${/memory="(\w+)"/.exec(line)?.[1] ?? '?'} ${(Number(line.split(' ')[1]) / 2 ** 20).toFixed(0)} MB`)
    process.stderr.write(`  relay memory with ${clients} held: ${memory.join(', ')}\n`)

    const dialer = worker()
    workers.push(dialer)
    const cpu2 = cpuSeconds(pid)
    const dialed = await dialer.ask({ type: 'dial', targets: addrs, seconds: DIAL_SECONDS, dialers: DIALERS, concurrency: DIAL_CONCURRENCY }, 'dialed')
    const dialCpu = cpuSeconds(pid) - cpu2
    if (dialed.failures > 0) process.stderr.write(`  ${dialed.failures} relayed dials failed, e.g. ${dialed.firstFailure ?? ''}\n`)
    return {
      clients,
      reserved: health.reservations,
      failed: failures.length,
      retries: replies.reduce((sum, reply) => sum + reply.retries, 0),
      p50: percentile(times, 50),
      p99: percentile(times, 99),
      rampSeconds,
      rampCpu,
      baselineRss,
      rss,
      idleCpu,
      setupsPerSecond: dialed.setups / dialed.seconds,
      dialCpu: dialCpu / dialed.seconds,
      setupP50: percentile(dialed.times, 50),
      setupFailures: dialed.failures
    }
  } finally {
    await Promise.allSettled(workers.map(async w => { await w.ask({ type: 'stop' }, 'stopped').catch(() => { w.child.kill('SIGKILL') }) }))
    const exited = new Promise(resolve => relay.once('exit', resolve))
    relay.kill('SIGTERM')
    await exited
    await rm(data, { recursive: true, force: true })
  }
}

const fmt = (value: number, digits = 0): string => Number.isFinite(value) ? value.toFixed(digits) : '–'

const load = (): string => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')
const startedAt = new Date()
const loadBefore = load()
const machine = `Node ${process.version}, ${cpus().length} cores, ${(totalmem() / 2 ** 30).toFixed(0)} GiB`
process.stdout.write(`relay reservation benchmark: ${machine}, ${WORKERS} client workers, ${IN_FLIGHT} reservations in flight per worker, loopback WebSockets; load average before: ${loadBefore}\n\n`)
const rows: Row[] = []
for (const clients of LEVELS) {
  process.stderr.write(`level ${clients}…\n`)
  rows.push(await level(clients))
}
// relay CPU-seconds are the relay's own, whatever else loads the machine: per attempt, and per
// setup beyond what holding the reservations costs anyway
const levels = rows.map(row => ({
  ...row,
  cpuMsPerReservation: row.rampCpu * row.rampSeconds * 1000 / (row.clients + row.retries),
  cpuMsPerSetup: Math.max(0, row.dialCpu - row.idleCpu) * 1000 / row.setupsPerSecond
}))
const loadAfter = load()
const entry = await appendRun(join(import.meta.dirname, 'results', 'reservations.json'), startedAt, {
  machine,
  workers: WORKERS,
  inFlightPerWorker: IN_FLIGHT,
  relayNodeFlags: RELAY_NODE_FLAGS,
  loadAverage: { before: loadBefore, after: loadAfter },
  levels
})
process.stdout.write(`${entry.date.slice(0, 16)}Z, ${describeCheckout(entry)}\n\n`)
process.stdout.write('| clients | held | failed (retried) | reserve p50 | reserve p99 | ramp | relay CPU: ramp | relay CPU per reservation | relay CPU: holding | relay RSS: idle → held | circuit setups/s | setup p50 | relay CPU per setup |\n')
process.stdout.write('|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n')
for (const row of levels) {
  process.stdout.write(`| ${row.clients} | ${row.reserved} | ${row.failed} (${row.retries}) | ${fmt(row.p50)} ms | ${fmt(row.p99)} ms | ${fmt(row.rampSeconds, 1)} s | ${fmt(row.rampCpu * 100)} % | ${fmt(row.cpuMsPerReservation, 1)} ms | ${fmt(row.idleCpu * 100, 1)} % | ${fmt(row.baselineRss)} → ${fmt(row.rss)} MB | ${fmt(row.setupsPerSecond)} | ${fmt(row.setupP50)} ms | ${fmt(row.cpuMsPerSetup, 1)} ms |\n`)
}
process.stdout.write(`\nload average after: ${loadAfter} (other processes on the machine share its ${cpus().length} cores); appended to bench/results/reservations.json\n`)
const top = rows.find(row => row.clients === 1000)
if (top !== undefined) {
  const ok = top.rss < RSS_TARGET_MB && top.reserved >= 1000
  process.stdout.write(`\ntarget: 1,000 concurrent reservations under ${RSS_TARGET_MB} MB RSS: ${ok ? 'met' : 'NOT met'} (${fmt(top.rss)} MB, ${top.reserved} held)\n`)
  if (!ok) process.exitCode = 1
}
