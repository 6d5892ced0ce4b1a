/**
 * Forwarder figures (not a test): the CPU its renderer spends per forwarded stream, and the
 * latency the hop through it adds over a direct page-to-page connection. The forwarder runs in
 * its own browser so its renderer's CPU is read apart from the participants'.
 *
 *   cd e2e && node --import tsx src/forwarder-bench.ts
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { cpuMsByProcess } from '../bench/process-cpu.ts'
import { median } from '../bench/median.ts'
import { ForwarderHarness } from './forwarder-harness.ts'

const MEASURE_MS = Number(process.env.BENCH_MEASURE_MS ?? 20_000)
const log = (line: string): void => { process.stderr.write(line + '\n') }

async function until (what: string, check: () => Promise<boolean>, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise(resolve => setTimeout(resolve, 500))
  }
}

async function allDecoding (harness: ForwarderHarness, peers: string[]): Promise<void> {
  await until('decoding', async () => {
    for (const to of peers) {
      const decoded = await harness.decoded(to)
      if (peers.some(from => from !== to && (decoded[from] ?? 0) < 60)) return false
    }
    return true
  })
}

async function latencies (harness: ForwarderHarness, peers: string[]): Promise<number[]> {
  const all: number[] = []
  for (const peer of peers) for (const list of Object.values((await harness.recorded(peer)).latency)) all.push(...list.slice(-300))
  return all
}

async function forwarded (participants: number): Promise<Record<string, number>> {
  const marker = await mkdtemp(join(tmpdir(), 'peerloom-fwbench-'))
  const harness = await ForwarderHarness.start({ forwarderUserDataDir: marker })
  try {
    const peers = Array.from({ length: participants }, (_, i) => `p${i}`)
    const idle0 = cpuMsByProcess([marker]).renderer ?? 0
    await new Promise(resolve => setTimeout(resolve, 5000))
    const idleMsPerSec = ((cpuMsByProcess([marker]).renderer ?? 0) - idle0) / 5
    for (const peer of peers) await harness.join(peer, { stamp: true })
    await allDecoding(harness, peers)
    const cpu0 = cpuMsByProcess([marker])
    const stats0 = await harness.stats()
    await new Promise(resolve => setTimeout(resolve, MEASURE_MS))
    const cpu1 = cpuMsByProcess([marker])
    const stats1 = await harness.stats()
    const rendererPct = ((cpu1.renderer ?? 0) - (cpu0.renderer ?? 0)) / MEASURE_MS * 100
    const browserPct = ((cpu1.browser ?? 0) - (cpu0.browser ?? 0) + (cpu1.utility ?? 0) - (cpu0.utility ?? 0)) / MEASURE_MS * 100
    const bytes = stats1.legs.reduce((s, l) => s + l.bytesSent, 0) - stats0.legs.reduce((s, l) => s + l.bytesSent, 0)
    // key frames the senders made while nobody joined: with the 16×16 placeholder the forwarder's own decoders ask for none
    const keyFrames = stats1.legs.reduce((s, l) => s + l.keyFramesReceived, 0) - stats0.legs.reduce((s, l) => s + l.keyFramesReceived, 0)
    const lat = await latencies(harness, peers)
    return {
      participants,
      videoStreams: stats1.load / 2,
      streams: stats1.load,
      idleRendererPct: idleMsPerSec / 10,
      rendererPct,
      browserAndNetworkPct: browserPct,
      forwardedKBps: bytes / 1024 / (MEASURE_MS / 1000),
      upstreamKbps: median(stats1.legs.map(l => l.upstreamKbps ?? Number.NaN)),
      keyFramesPerSenderPerSec: keyFrames / participants / (MEASURE_MS / 1000),
      latencyMedianMs: median(lat),
      latencyP90Ms: lat.sort((a, b) => a - b)[Math.floor(lat.length * 0.9)] ?? Number.NaN
    }
  } finally {
    await harness.close()
    await rm(marker, { recursive: true, force: true })
  }
}

async function direct (): Promise<Record<string, number>> {
  const harness = await ForwarderHarness.start()
  try {
    await harness.pairDirect('a', 'b', { stamp: true })
    await allDecoding(harness, ['a', 'b'])
    await new Promise(resolve => setTimeout(resolve, MEASURE_MS))
    const lat = await latencies(harness, ['a', 'b'])
    return { latencyMedianMs: median(lat), latencyP90Ms: lat.sort((a, b) => a - b)[Math.floor(lat.length * 0.9)] ?? Number.NaN }
  } finally {
    await harness.close()
  }
}

const rows: Array<Record<string, unknown>> = []
rows.push({ path: 'direct', ...(await direct()) })
for (const n of (process.env.BENCH_PARTICIPANTS ?? '2,3,4').split(',').map(Number)) {
  const row = { path: 'forwarder', ...(await forwarded(n)) }
  log(JSON.stringify(row))
  rows.push(row)
}
console.log(JSON.stringify(rows, null, 2))
