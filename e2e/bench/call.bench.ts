/**
 * bench:call — calls as the people in them see them, against a baseline measured in the same
 * run: plain page-to-page WebRTC between ordinary pages (no extension), signalled by the bench.
 * Every participant is its own Chromium with the fake camera at 30 fps; each page sends a canvas
 * with a timestamp pattern drawn over each camera frame (call-pattern.ts) and reads the pattern
 * back from every decoded frame (call-page.ts). Per kind of call and number of participants:
 * join → first remote frame, glass to glass, received frame rate, CPU per participant, and chat
 * one way. Prints the results table and appends the run to bench/results/call.json.
 * Method and numbers: bench/call.README.md.
 *
 *   npm run bench:call
 *   BENCH_RUNS=3 BENCH_JOINS=10 BENCH_MESH_SIZES=2,3,4,5,6 npm run bench:call   (the defaults)
 */
import { execFileSync } from 'node:child_process'
import { createServer } from 'node:http'
import type { ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { mkdtemp, rm } from 'node:fs/promises'
import { cpus, loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { build } from 'esbuild'
import { chromium } from 'playwright-core'
import type { BrowserContext, Page } from 'playwright-core'
import { appendRun } from '../../shared/bench/results-log.ts'
import { CHROMIUM, SWITCHES_USERS_DO_NOT_HAVE, chromiumArgs } from '../src/profile.ts'
import { cpuSince, profileCpuMs, totalMs } from './call-cpu.ts'
import type { CpuByKind } from './call-cpu.ts'
import type { CallBench, ReceiverFigures } from './call-page.ts'
import { callTable, quantiles } from './call-table.ts'
import type { CallConfig, CallRun } from './call-table.ts'
import { median } from './median.ts'

declare global {
  interface Window { callBench?: CallBench }
}

/** Measuring windows per kind of call and size. @default 3 */
const RUNS = Math.max(1, Number(process.env.BENCH_RUNS ?? 3))
/** Joins of the two-participant calls, for join → first frame. @default 10 */
const JOINS = Math.max(1, Number(process.env.BENCH_JOINS ?? 10))
/** Mesh sizes measured. @default 2..6 */
const MESH_SIZES = (process.env.BENCH_MESH_SIZES ?? '2,3,4,5,6').split(',').map(Number).filter(n => n >= 2)
/** After everyone sees everyone: the bitrate ramps up from its start value over the first seconds. @default 3000 */
const WARMUP_MS = 3000
/** @default 8000 */
const WINDOW_MS = 8000
const CHAT_MESSAGES = 50
/** Bytes of a chat message, as PLATFORM.md measured the data channel with. */
const CHAT_BYTES = 200
const CHAT_EVERY_MS = 20
/** A join that shows no remote frame within this has failed. */
const JOIN_TIMEOUT_MS = 30_000

const say = (line: string): void => { process.stdout.write(`${line}\n`) }
const sleep = async (ms: number): Promise<void> => { await new Promise(resolve => setTimeout(resolve, ms)) }
const benchClock = (): number => performance.timeOrigin + performance.now()

/**
 * Serves the page that holds the bundled call-page.ts (an ordinary origin on loopback) and the
 * baseline's signalling: each page listens on `/signal?name=…` (server-sent events) and POSTs
 * `{ from, to, signal }` to `/signal`, which the server passes on to `to`'s events in order.
 */
async function servePage (): Promise<{ url: string, bundle: string, close: () => void }> {
  const built = await build({ entryPoints: [join(import.meta.dirname, 'call-page.ts')], bundle: true, format: 'iife', platform: 'browser', target: 'es2022', write: false, logLevel: 'warning' })
  const bundle = built.outputFiles[0]!.text
  const html = '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>bench:call</title></head><body><script src="./call-page.js"></script></body></html>'
  const listeners = new Map<string, ServerResponse>()
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://bench')
    if (url.pathname === '/') res.writeHead(200, { 'content-type': 'text/html' }).end(html)
    else if (url.pathname === '/call-page.js') res.writeHead(200, { 'content-type': 'text/javascript' }).end(bundle)
    else if (url.pathname === '/signal' && req.method === 'GET') {
      listeners.set(url.searchParams.get('name') ?? '', res)
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store' }).write(': listening\n\n')
    } else if (url.pathname === '/signal' && req.method === 'POST') {
      let body = ''
      req.on('data', (chunk: Buffer) => { body += chunk.toString() })
      req.on('end', () => {
        const { from, to, signal } = JSON.parse(body) as { from: string, to: string, signal: unknown }
        const listener = listeners.get(to)
        if (listener === undefined) return res.writeHead(404).end()
        listener.write(`data: ${JSON.stringify({ from, signal })}\n\n`)
        res.writeHead(204).end()
      })
    } else res.writeHead(404).end()
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`,
    bundle,
    close: () => {
      for (const res of listeners.values()) res.end()
      server.close()
    }
  }
}

/** One person in a call: a browser of their own with one call page. */
interface Participant {
  name: string
  userDataDir: string
  context: BrowserContext
  page: Page
  /** page clock − bench clock, ms, and half the round trip it was read with */
  clock: { offsetMs: number, uncertaintyMs: number }
}

/** The page clock's offset from the bench's, from the quickest of 15 round trips. */
async function readClockOffset (page: Page): Promise<{ offsetMs: number, uncertaintyMs: number }> {
  let best = { offsetMs: 0, uncertaintyMs: Number.POSITIVE_INFINITY }
  for (let i = 0; i < 15; i++) {
    const before = benchClock()
    const pageClock = await page.evaluate(() => window.callBench!.clock())
    const after = benchClock()
    if ((after - before) / 2 < best.uncertaintyMs) best = { offsetMs: pageClock - (before + after) / 2, uncertaintyMs: (after - before) / 2 }
  }
  return best
}

/** An ordinary Chromium (no extension) with the bench's flags and fake devices, on the bench page. */
async function launchPlain (name: string, url: string): Promise<Participant> {
  const userDataDir = await mkdtemp(join(tmpdir(), `peerloom-call-${name}-`))
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    ignoreDefaultArgs: SWITCHES_USERS_DO_NOT_HAVE,
    args: chromiumArgs().filter(arg => !arg.startsWith('--disable-extensions-except=') && !arg.startsWith('--load-extension=')),
    viewport: { width: 420, height: 760 }
  })
  const page = context.pages()[0] ?? await context.newPage()
  await page.goto(url)
  await page.waitForFunction(() => window.callBench !== undefined)
  await page.evaluate(async n => { await window.callBench!.plainSignalling(n) }, name)
  return { name, userDataDir, context, page, clock: await readClockOffset(page) }
}

async function figuresOf (p: Participant): Promise<{ sentFrames: number, receivers: ReceiverFigures[], chatOneWayMs: number[] }> {
  return await p.page.evaluate(() => window.callBench!.figures())
}

/** Waits until `p` decoded a frame from each of `from`; returns its figures then. */
async function waitFrames (p: Participant, from: string[]): Promise<ReceiverFigures[]> {
  const deadline = Date.now() + JOIN_TIMEOUT_MS
  for (;;) {
    const { receivers } = await figuresOf(p)
    const seen = receivers.filter(r => from.includes(r.label) && r.firstFrameAt !== undefined)
    if (seen.length === from.length) return seen
    if (Date.now() > deadline) throw new Error(`${p.name} decoded no frame from ${from.filter(f => !seen.some(r => r.label === f)).join(', ')} within ${JOIN_TIMEOUT_MS} ms`)
    await sleep(50)
  }
}

/** What one measuring window gave, before it is pooled into a CallConfig. */
interface Window_ {
  g2g: number[]
  received: number[]
  sentFps: number[]
  heights: number[]
  chat: number[]
  fps: number[]
  frames: number
  undecodable: number
  lost: number
  expected: number
  cpuPct: number[]
  cpuByKind: CpuByKind[]
}

/**
 * One measuring window over a call everyone already sees: CPU of each participant's browser,
 * every decoded frame's glass-to-glass time, and `chat` run by each page while it lasts.
 */
async function measureWindow (people: Participant[], chat: (p: Participant) => Promise<void>): Promise<Window_> {
  await sleep(WARMUP_MS)
  for (const p of people) await p.page.evaluate(() => { window.callBench!.resetWindow() })
  const cpuBefore = people.map(p => profileCpuMs(p.userDataDir))
  const started = Date.now()
  const chats = Promise.all(people.map(chat))
  await sleep(WINDOW_MS)
  await chats
  const cpuAfter = people.map(p => profileCpuMs(p.userDataDir))
  const elapsed = Date.now() - started
  const all = await Promise.all(people.map(figuresOf))
  const byName = new Map(people.map(p => [p.name, p]))
  const w: Window_ = { g2g: [], received: [], sentFps: [], heights: [], chat: [], fps: [], frames: 0, undecodable: 0, lost: 0, expected: 0, cpuPct: [], cpuByKind: [] }
  for (const [i, p] of people.entries()) {
    const used = cpuSince(cpuBefore[i]!, cpuAfter[i]!)
    w.cpuPct.push(totalMs(used) / elapsed * 100)
    w.cpuByKind.push(Object.fromEntries(Object.entries(used).map(([kind, ms]) => [kind, ms / elapsed * 100])))
    const figures = all[i]!
    w.sentFps.push(figures.sentFrames / (elapsed / 1000))
    // the chat senders are every other participant: their stamps are on their own clocks
    const others = people.filter(o => o !== p)
    const meanOffset = others.reduce((s, o) => s + o.clock.offsetMs, 0) / others.length
    w.chat.push(...figures.chatOneWayMs.map(ms => ms - (p.clock.offsetMs - meanOffset)))
    for (const r of figures.receivers) {
      const from = byName.get(r.label)
      if (from === undefined) continue
      const skew = p.clock.offsetMs - from.clock.offsetMs
      w.g2g.push(...r.g2gMs.map(ms => ms - skew))
      w.received.push(...r.receivedMs.map(ms => ms - skew))
      w.heights.push(r.height)
      w.fps.push(r.frames / (elapsed / 1000))
      w.frames += r.frames
      w.undecodable += r.undecodable
      w.lost += r.lost
      w.expected += r.frames - r.undecodable + r.lost
    }
  }
  return w
}

function pool (kind: CallConfig['kind'], participants: number, joins: Array<{ first: number, all: number }>, windows: Window_[]): CallConfig {
  const byKind: CpuByKind = {}
  const perParticipant = windows.flatMap(w => w.cpuByKind)
  for (const cpu of perParticipant) for (const [kind, p] of Object.entries(cpu)) byKind[kind] = (byKind[kind] ?? 0) + p / perParticipant.length
  const frames = windows.reduce((s, w) => s + w.frames, 0)
  const expected = windows.reduce((s, w) => s + w.expected, 0)
  return {
    kind,
    participants,
    joinMs: joins.map(j => j.first),
    joinToFirstFrameMs: quantiles(joins.map(j => j.first)),
    joinToAllFramesMs: quantiles(joins.map(j => j.all)),
    glassToGlassMs: quantiles(windows.flatMap(w => w.g2g)),
    stampToReceivedMs: quantiles(windows.flatMap(w => w.received)),
    sentFps: median(windows.flatMap(w => w.sentFps)),
    decodedHeight: median(windows.flatMap(w => w.heights)),
    receivedFps: median(windows.flatMap(w => w.fps)),
    undecodableShare: frames === 0 ? 0 : windows.reduce((s, w) => s + w.undecodable, 0) / frames,
    lostShare: expected === 0 ? 0 : windows.reduce((s, w) => s + w.lost, 0) / expected,
    cpuPerParticipantPct: median(windows.flatMap(w => w.cpuPct)),
    cpuByKindPct: byKind,
    chatOneWayMs: quantiles(windows.flatMap(w => w.chat)),
    windows: windows.length,
    windowMs: WINDOW_MS
  }
}

/**
 * The baseline with `people.length` participants: the first n − 1 connect to each other, then
 * the last joins them (it offers to each, as a joiner's page does in half of Peerloom's pairs);
 * join → first remote frame is timed in the joiner's page.
 */
async function plainCall (people: Participant[]): Promise<{ first: number, all: number }> {
  const joiner = people.at(-1)!
  const members = people.slice(0, -1)
  for (const p of people) await p.page.evaluate(() => { window.callBench!.plainLeave() })
  for (const [i, a] of members.entries()) {
    for (const b of members.slice(i + 1)) {
      await b.page.evaluate(async name => { await window.callBench!.plainConnect(name, false) }, a.name)
      await a.page.evaluate(async name => { await window.callBench!.plainConnect(name, true) }, b.name)
    }
  }
  for (const m of members) await waitFrames(m, members.filter(o => o !== m).map(o => o.name))
  for (const m of members) await m.page.evaluate(async name => { await window.callBench!.plainConnect(name, false) }, joiner.name)
  const joinedAt = await joiner.page.evaluate(async names => {
    const at = window.callBench!.clock()
    for (const name of names) await window.callBench!.plainConnect(name, true)
    return at
  }, members.map(m => m.name))
  const seen = await waitFrames(joiner, members.map(m => m.name))
  const firsts = seen.map(r => r.firstFrameAt! - joinedAt)
  for (const m of members) await waitFrames(m, [joiner.name])
  return { first: Math.min(...firsts), all: Math.max(...firsts) }
}

async function plainConfig (people: Participant[]): Promise<CallConfig> {
  const n = people.length
  say(`bench:call: plain pages, ${n} participants…`)
  for (const p of people) await p.page.evaluate(async () => { await window.callBench!.startSender() })
  const joins: Array<{ first: number, all: number }> = []
  const windows: Window_[] = []
  try {
    // two-participant calls are cheap to set up: extra joins, for the join figure's p95
    for (let i = 0; n === 2 && i < JOINS - RUNS; i++) joins.push(await plainCall(people))
    for (let i = 0; i < RUNS; i++) {
      joins.push(await plainCall(people))
      windows.push(await measureWindow(people, async p => { await p.page.evaluate(async ([c, b, e]) => { await window.callBench!.plainChat(c, b, e) }, [CHAT_MESSAGES, CHAT_BYTES, CHAT_EVERY_MS] as const) }))
      const last = windows.at(-1)!
      say(`  window ${i + 1}: join → first frame ${joins.at(-1)!.first.toFixed(0)} ms, glass to glass p50 ${quantiles(last.g2g).p50.toFixed(1)} ms, ${median(last.fps).toFixed(1)} fps, CPU ${median(last.cpuPct).toFixed(0)} % per participant`)
    }
  } finally {
    for (const p of people) await p.page.evaluate(() => { window.callBench!.plainLeave(); window.callBench!.stopSender() })
  }
  return pool('plain', n, joins, windows)
}

const startedAt = new Date()
const loadBefore = loadavg()[0]!
const chromiumVersion = /\d+(\.\d+)+/.exec(execFileSync(CHROMIUM, ['--version'], { stdio: ['ignore', 'pipe', 'ignore'] }).toString())?.[0] ?? 'unknown'
const site = await servePage()
const people: Participant[] = []
const configs: CallConfig[] = []
try {
  const largest = Math.max(...MESH_SIZES)
  for (let i = 0; i < largest; i++) people.push(await launchPlain(`plain${i + 1}`, site.url))
  for (const n of MESH_SIZES) configs.push(await plainConfig(people.slice(0, n)))
} finally {
  for (const p of people) await p.context.close().catch(() => {})
  for (const p of people) await rm(p.userDataDir, { recursive: true, force: true }).catch(() => {})
  site.close()
}

const entry: CallRun = await appendRun(join(import.meta.dirname, 'results', 'call.json'), startedAt, {
  cores: cpus().length,
  loadAverage: { before: loadBefore.toFixed(1), after: loadavg()[0]!.toFixed(1) },
  chromium: chromiumVersion,
  chatBytes: CHAT_BYTES,
  clock: {
    largestOffsetMs: Math.max(...people.map(p => Math.abs(p.clock.offsetMs))),
    uncertaintyMs: Math.max(...people.map(p => p.clock.uncertaintyMs))
  },
  configs
})
say(`\n${callTable(entry)}\n\nappended to bench/results/call.json`)
process.exit(0) // Playwright handles would otherwise keep the process alive
