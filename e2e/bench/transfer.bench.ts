/**
 * bench:transfer — extension A → extension B through the node path (block protocol over
 * WebRTC, verified, cached, chunks opened in B) against the baseline of Helia (bitswap) in
 * ordinary pages over WebRTC, in one run on the same content. Prints the results table and
 * appends the run to bench/results/transfer.json.
 * Method and numbers: bench/transfer.README.md.
 *
 *   npm run bench:transfer            (BENCH_RUNS=5 for more runs)
 */
import { execFileSync, execSync } from 'node:child_process'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { readFileSync } from 'node:fs'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { chromium } from 'playwright-core'
import type { Browser, Page } from 'playwright-core'
import { publishRandomFile, startDevnet } from '../src/devnet.ts'
import type { Devnet, PublishedFile } from '../src/devnet.ts'
import globalSetup from '../src/global-setup.ts'
import { CHROMIUM, Profile, SWITCHES_USERS_DO_NOT_HAVE } from '../src/profile.ts'
import { appendRun } from '../../shared/bench/results-log.ts'
import { median } from './median.ts'
import { cpuMsByProcess } from './process-cpu.ts'
import { transferTable } from './results-table.ts'
import type { CpuPerMB, ProcessMemory, TransferRun } from './results-table.ts'

const MiB = 1024 * 1024
const SIZES_MIB = [16, 64]
/** Measured runs per size and path. @default 3 */
const RUNS = Math.max(3, Number(process.env.BENCH_RUNS ?? 3))
/** How long the node sits idle before its memory is read. @default 15_000 */
const IDLE_MS = 15_000
const HERE = import.meta.dirname

interface HeliaPage {
  peerId: string
  webrtc: string[]
}

const mbps = (bytes: number, ms: number): number => bytes / 1e6 / (ms / 1000)
const log = (line: string): void => { process.stderr.write(line + '\n') }

async function serveBaselinePage (): Promise<{ url: string, close: () => void }> {
  const dir = await mkdtemp(join(tmpdir(), 'peerloom-helia-page-'))
  execFileSync(resolve(HERE, '..', '..', 'node_modules', '.bin', 'esbuild'), [
    join(HERE, 'helia-page', 'main.ts'), '--bundle', '--format=esm', '--platform=browser', '--target=es2022',
    `--outfile=${join(dir, 'bundle.js')}`, '--log-level=warning'
  ])
  const files: Record<string, [string, Buffer]> = {
    '/': ['text/html', await readFile(join(HERE, 'helia-page', 'index.html'))],
    '/bundle.js': ['text/javascript', await readFile(join(dir, 'bundle.js'))]
  }
  const server = createServer((req, res) => {
    const file = files[req.url ?? '']
    if (file === undefined) return res.writeHead(404).end()
    res.writeHead(200, { 'content-type': file[0] }).end(file[1])
  })
  await new Promise<void>(done => server.listen(0, '127.0.0.1', done))
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`, close: () => { server.close(); void rm(dir, { recursive: true, force: true }) } }
}

async function baselinePage (url: string, relay: string): Promise<{ browser: Browser, page: Page, info: HeliaPage }> {
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    ignoreDefaultArgs: SWITCHES_USERS_DO_NOT_HAVE,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--allow-loopback-in-peer-connection', '--use-fake-ui-for-media-stream']
  })
  const page = await browser.newPage()
  await page.goto(url)
  await page.waitForFunction(() => 'heliaBench' in window)
  const info = await page.evaluate(async r => {
    const bench = await (window as any).heliaBench.start(r)
    ;(window as any).node = bench
    return { peerId: bench.peerId, webrtc: bench.webrtc }
  }, relay) as HeliaPage
  return { browser, page, info }
}

/** Memory of the Chromium renderer that hosts a profile's extension (offscreen document + service worker). */
function extensionRendererMemory (userDataDir: string): ProcessMemory {
  const lines = execSync('ps -eo pid=,args=', { maxBuffer: 16 * MiB }).toString().split('\n')
  const hits = lines.filter(l => l.includes(`--user-data-dir=${userDataDir}`) && l.includes('--extension-process'))
  if (hits.length !== 1) throw new Error(`expected one extension process for ${userDataDir}, found ${hits.length}`)
  const pid = hits[0]?.trim().split(/\s+/)[0] as string
  const rollup = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8')
  const kib = (key: string): number => Number(new RegExp(`^${key}:\\s+(\\d+)`, 'm').exec(rollup)?.[1] ?? Number.NaN)
  return { rssMiB: kib('Rss') / 1024, pssMiB: kib('Pss') / 1024, privateMiB: (kib('Private_Clean') + kib('Private_Dirty')) / 1024 }
}

interface PublishedRuns {
  warmup: PublishedFile
  bySize: Map<number, PublishedFile[]>
  /** The warm-up file and every run's file. */
  all: PublishedFile[]
}

/** Publishes a 16 MiB warm-up file and RUNS distinct files of each size, named `<prefix>-…`. */
async function publishRuns (devnet: Devnet, prefix: string): Promise<PublishedRuns> {
  const warmup = await publishRandomFile(devnet.dir, devnet.origin.dataDir, 16 * MiB, `${prefix}-warmup.bin`)
  const bySize = new Map<number, PublishedFile[]>()
  for (const size of SIZES_MIB) {
    const list: PublishedFile[] = []
    for (let run = 0; run < RUNS; run++) list.push(await publishRandomFile(devnet.dir, devnet.origin.dataDir, size * MiB, `${prefix}-${size}-${run}.bin`))
    bySize.set(size, list)
  }
  return { warmup, bySize, all: [warmup, ...[...bySize.values()].flat()] }
}

/**
 * Has a donating profile fetch every file from the origin, so that it holds them, and waits until
 * the relay's delegated routing (`routing`) lists it as their provider.
 */
async function cacheAll (profile: Profile, files: PublishedFile[], routing: string): Promise<void> {
  for (const file of files) {
    const t = await profile.fetchAll(file.link, 180_000)
    if (t.sha256 !== file.sha256) throw new Error(`${profile.name} could not fetch ${file.path}: ${t.error?.message ?? 'hash mismatch'}`)
  }
  const id = (await profile.status()).peerId as string
  for (const file of files) {
    await profile.waitFor(async () => (await (await fetch(`${routing}/routing/v1/providers/${file.root}`)).text()).includes(id), 30_000, `${profile.name} listed as provider`)
  }
}

/** Runs `read` and charges it the CPU the processes matching `markers` spent meanwhile, per MB read. */
async function withCpu<T extends { bytes: number }> (markers: string[], read: () => Promise<T>): Promise<{ result: T, cpu: CpuPerMB }> {
  const before = cpuMsByProcess(markers)
  const result = await read()
  const after = cpuMsByProcess(markers)
  const cpu: CpuPerMB = {}
  for (const kind of Object.keys(after)) cpu[kind] = ((after[kind] ?? 0) - (before[kind] ?? 0)) / (result.bytes / 1e6)
  return { result, cpu }
}

const totalCpu = (cpu: CpuPerMB): number => Object.values(cpu).reduce((sum, ms) => sum + ms, 0)
const formatCpu = (cpu: CpuPerMB): string => Object.entries(cpu).filter(([, ms]) => ms >= 1).map(([kind, ms]) => `${kind} ${ms.toFixed(0)}`).join(', ')

/** Medians per process kind over a path's runs. */
function medianCpu (runs: CpuPerMB[]): CpuPerMB {
  const kinds = new Set(runs.flatMap(run => Object.keys(run)))
  return Object.fromEntries([...kinds].map(kind => [kind, median(runs.map(run => run[kind] ?? 0))]))
}

/**
 * One timed read of `file` by `reader` (no origin configured): MB/s to the last plaintext byte,
 * and the CPU per MB of the processes matching `cpuMarkers`, per process kind. It includes the reader hashing
 * the whole file after the last byte (not in the timing), ≈ 3 ms per MB.
 */
async function timedRead (reader: Profile, file: PublishedFile, cpuMarkers: string[]): Promise<{ mbps: number, cpu: CpuPerMB }> {
  const { result: t, cpu } = await withCpu(cpuMarkers, async () => await reader.fetchAll(file.link, 180_000))
  if (t.sha256 !== file.sha256 || t.lastByteMs === undefined) throw new Error(`${reader.name} could not fetch ${file.path}: ${t.error?.message ?? 'hash mismatch'}`)
  if ((t.stats?.fromOrigin ?? 0) > 0) throw new Error(`${reader.name} used the origin`)
  return { mbps: mbps(t.bytes, t.lastByteMs), cpu }
}

async function main (): Promise<void> {
  globalSetup()
  const started = new Date()
  const loadBefore = (await import('node:os')).loadavg().map(l => l.toFixed(1)).join(' ')
  const devnet = await startDevnet()
  const baselineServer = await serveBaselinePage()
  const profiles: Profile[] = []
  const browsers: Browser[] = []
  try {
    // distinct files per run: Helia's bitswap does not fetch a CID again after its blocks were deleted
    log(`publishing a warm-up file and ${RUNS} files of each of ${SIZES_MIB.join(' and ')} MiB…`)
    const content = await publishRuns(devnet, 'bench')
    const { warmup } = content

    // the baseline: two ordinary pages, one seeded with the same ciphertext blocks, connected over WebRTC
    log('baseline: starting two Helia pages…')
    const seeder = await baselinePage(baselineServer.url, devnet.relay.addr)
    const leecher = await baselinePage(baselineServer.url, devnet.relay.addr)
    browsers.push(seeder.browser, leecher.browser)
    for (const file of content.all) await seeder.page.evaluate(async u => await (window as any).node.seed(u), `${devnet.origin.http}/ipfs/${file.root}?format=car`)
    const dialled = await leecher.page.evaluate(async a => await (window as any).node.dial(a), seeder.info.webrtc[0] as string) as { direct: boolean, addr: string }
    if (!dialled.direct || !dialled.addr.includes('/webrtc')) throw new Error(`baseline pages are not on a direct WebRTC connection: ${dialled.addr}`)

    // the node path: A caches both files from the origin and serves; B fetches from A only (no origin configured)
    log('extension: profile A caches the content…')
    const common = { relays: [devnet.relay.addr], routers: [devnet.relay.http], uploadRateBytesPerSec: 1024 * MiB }
    const a = await Profile.launch('bench-a')
    profiles.push(a)
    await a.configure({ ...common, gateways: [devnet.origin.http], donate: true })
    await a.waitReachable()
    await cacheAll(a, content.all, devnet.relay.http)

    // cold: fresh profiles, no connection to A, nothing cached — time to the first plaintext byte
    const cold: number[] = []
    for (let i = 0; i < RUNS; i++) {
      const fresh = await Profile.launch(`bench-cold-${i}`)
      await fresh.configure({ ...common, gateways: [] })
      await fresh.waitReachable()
      const t = await fresh.fetchAll(warmup.link, 180_000)
      if (t.sha256 !== warmup.sha256 || t.firstByteMs === undefined) throw new Error(`cold fetch failed: ${t.error?.message ?? 'hash mismatch'}`)
      if ((t.stats?.fromOrigin ?? 0) > 0) throw new Error('cold fetch used the origin')
      cold.push(t.firstByteMs)
      log(`cold first byte ${i + 1}/${RUNS}: ${t.firstByteMs.toFixed(0)} ms`)
      await fresh.close()
      await rm(fresh.userDataDir, { recursive: true, force: true })
    }

    const b = await Profile.launch('bench-b')
    profiles.push(b)
    await b.configure({ ...common, gateways: [] })
    await b.waitReachable()
    // drive A and B from a static extension page (the consent prompt, with no request): the popup's live
    // dashboard would share the extension process's main thread with the node; the baseline pages render nothing
    for (const p of [a, b]) await p.page.goto(`chrome-extension://${p.extensionId}/prompt.html`)
    // warm-up of every path (connection set up, JIT warm); not counted
    await b.fetchAll(warmup.link, 180_000)
    await leecher.page.evaluate(async r => await (window as any).node.fetch(r), warmup.root)

    // CPU is counted per path over all processes of its two browsers (the baseline's come from chromium.launch)
    const baselineCpu = ['playwright_chromiumdev_profile']
    const nodeCpu = [`--user-data-dir=${a.userDataDir}`, `--user-data-dir=${b.userDataDir}`]
    const rows: Array<{ sizeMiB: number, baseline: number[], node: number[], baselineCpu: CpuPerMB[], nodeCpu: CpuPerMB[] }> = []
    for (const [size, list] of content.bySize) {
      const row = { sizeMiB: size, baseline: [] as number[], node: [] as number[], baselineCpu: [] as CpuPerMB[], nodeCpu: [] as CpuPerMB[] }
      for (const [run, file] of list.entries()) {
        const { result: base, cpu } = await withCpu(baselineCpu, async () => await leecher.page.evaluate(async r => await (window as any).node.fetch(r), file.root) as { bytes: number, ms: number })
        if (base.bytes < file.size) throw new Error(`baseline fetched ${base.bytes} of ${file.size} bytes`)
        row.baseline.push(mbps(base.bytes, base.ms))
        row.baselineCpu.push(cpu)
        const node = await timedRead(b, file, nodeCpu)
        row.node.push(node.mbps)
        row.nodeCpu.push(node.cpu)
        log(`${size} MiB run ${run + 1}/${RUNS}: baseline ${(row.baseline.at(-1) as number).toFixed(1)} MB/s (CPU ms/MB: ${formatCpu(cpu)}), node ${node.mbps.toFixed(1)} MB/s (${formatCpu(node.cpu)})`)
      }
      rows.push(row)
    }

    // idle memory of a fresh node: reachable through the relay, nothing cached, no extension page open
    const idle = await Profile.launch('bench-idle')
    profiles.push(idle)
    await idle.configure({ ...common, gateways: [] })
    await idle.waitReachable()
    await idle.page.close()
    await new Promise(done => setTimeout(done, IDLE_MS))
    const freshIdle = extensionRendererMemory(idle.userDataDir)
    await idle.close()

    // and of A after it fetched and served everything above
    await a.page.close()
    await new Promise(done => setTimeout(done, IDLE_MS))
    const afterServing = extensionRendererMemory(a.userDataDir)
    a.page = await a.context.newPage()
    await a.page.goto(`chrome-extension://${a.extensionId}/popup.html`)
    const leecherHeap = await leecher.page.evaluate(() => (window as any).node.memory()) as number | undefined

    const results = {
      runs: RUNS,
      machine: `${(await import('node:os')).cpus().length} cores, Node ${process.version}, ${execSync(`${CHROMIUM} --version`).toString().trim()}`,
      sizes: rows.map(r => ({
        sizeMiB: r.sizeMiB,
        baselineMBps: median(r.baseline),
        nodeMBps: median(r.node),
        ratio: median(r.node) / median(r.baseline),
        baselineRuns: r.baseline,
        nodeRuns: r.node,
        baselineCpuMsPerMB: median(r.baselineCpu.map(totalCpu)),
        nodeCpuMsPerMB: median(r.nodeCpu.map(totalCpu)),
        cpuRatio: median(r.nodeCpu.map(totalCpu)) / median(r.baselineCpu.map(totalCpu)),
        baselineCpuByProcess: medianCpu(r.baselineCpu),
        nodeCpuByProcess: medianCpu(r.nodeCpu)
      })),
      coldFirstByteMs: { median: median(cold), runs: cold },
      idleNodeMemory: { fresh: freshIdle, afterServing },
      baselinePageJsHeapMiB: leecherHeap === undefined ? undefined : leecherHeap / MiB,
      loadAverage: { before: loadBefore, after: (await import('node:os')).loadavg().map(l => l.toFixed(1)).join(' ') },
      durationS: (Date.now() - started.getTime()) / 1000
    }
    const entry: TransferRun = await appendRun(join(HERE, 'results', 'transfer.json'), started, results)

    for (const s of results.sizes) console.log(`CPU ms per MB by process kind, ${s.sizeMiB} MiB (medians): baseline ${formatCpu(s.baselineCpuByProcess)}; node path ${formatCpu(s.nodeCpuByProcess)}`)
    console.log(`medians of ${RUNS} runs; total ${results.durationS.toFixed(0)} s; appended to bench/results/transfer.json\n`)
    console.log(transferTable(entry))
  } finally {
    for (const profile of profiles) {
      await profile.close().catch(() => {})
      await rm(profile.userDataDir, { recursive: true, force: true })
    }
    for (const browser of browsers) await browser.close().catch(() => {})
    baselineServer.close()
    await devnet.stop()
  }
}

await main()
