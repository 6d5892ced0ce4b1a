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
import { MESH_MAX_PARTICIPANTS } from '../../extension/src/calls/constants.ts'
import { startDevnet } from '../src/devnet.ts'
import type { Devnet } from '../src/devnet.ts'
import type { DemoSite } from '../demo-site/server.ts'
import buildExtension from '../src/global-setup.ts'
import { connectAnswering, openSite, startSite } from '../src/page-api.ts'
import { CHROMIUM, Profile, SWITCHES_USERS_DO_NOT_HAVE, chromiumArgs } from '../src/profile.ts'
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
/**
 * Kinds of call measured: `plain` (the baseline), `engine` (plain pages via the forwarder engine),
 * `mesh` (Peerloom), `failover` (a forwarded Peerloom room whose forwarder's browser is killed).
 * @default plain,engine
 */
const KINDS = (process.env.BENCH_KINDS ?? 'plain,engine').split(',')
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
/** The fake camera's frame rate in every browser of the run (a lower one for the 6 browsers of `failover` on a small machine). @default 30 */
const CAMERA_FPS = Number(process.env.BENCH_CAMERA_FPS ?? 30)
// chromiumArgs() reads the extra flags at each launch; the later --use-fake-device-for-media-stream wins
if (CAMERA_FPS !== 30) process.env.PEERLOOM_CHROMIUM_FLAGS = [process.env.PEERLOOM_CHROMIUM_FLAGS ?? '', `--use-fake-device-for-media-stream=fps=${CAMERA_FPS}`].join(' ').trim()
/** A failover room: one participant more than a mesh carries, so every node attaches to a forwarder. */
const FAILOVER_SIZE = MESH_MAX_PARTICIPANTS + 1
/** In a failover window, the forwarder's browser is killed this long after the window starts… @default 4000 */
const FAILOVER_KILL_AT_MS = 4000
/** …and the window goes on this long after the kill. @default 16000 */
const FAILOVER_AFTER_MS = 16_000
/** A forwarded room that does not come up (every page forwarded, all on one forwarder) within this has failed. */
const FORWARDED_TIMEOUT_MS = 120_000

const say = (line: string): void => { process.stdout.write(`${line}\n`) }
const sleep = async (ms: number): Promise<void> => { await new Promise(resolve => setTimeout(resolve, ms)) }
const benchClock = (): number => performance.timeOrigin + performance.now()

/** The bench's signalling server and pages. */
interface BenchSite {
  url: string
  /** the bundled call-page.ts, for pages on other origins */
  bundle: string
  /** Pushes `payload` from `from` to the page registered as `to`. */
  deliver: (to: string, from: string, payload: unknown) => void
  /** Where signals POSTed to `forwarder` go. */
  toForwarder?: (from: string, signal: unknown) => void
  close: () => void
}

/**
 * Serves the page that holds the bundled call-page.ts (an ordinary origin on loopback), the
 * forwarder engine's page (e2e/src/forwarder-page.ts and its frame-relay worker) and the
 * signalling: each page listens on `/signal?name=…` (server-sent events) and POSTs
 * `{ from, to, signal }` to `/signal`, which the server passes on to `to` in order.
 */
async function servePage (): Promise<BenchSite> {
  const bundleOf = async (entry: string): Promise<string> => {
    const built = await build({ entryPoints: [join(import.meta.dirname, entry)], bundle: true, format: 'iife', platform: 'browser', target: 'es2022', write: false, logLevel: 'warning' })
    return built.outputFiles[0]!.text
  }
  const bundle = await bundleOf('call-page.ts')
  const scripts = new Map([
    ['/call-page.js', bundle],
    ['/forwarder.js', await bundleOf('../src/forwarder-page.ts')],
    ['/relay-worker.js', await bundleOf('../src/forwarder-relay-worker.ts')]
  ])
  const html = (script: string): string => `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>bench:call</title></head><body><script src="${script}"></script></body></html>`
  const listeners = new Map<string, ServerResponse>()
  const site: BenchSite = {
    url: '',
    bundle,
    deliver: (to, from, payload) => { listeners.get(to)?.write(`data: ${JSON.stringify({ from, signal: payload })}\n\n`) },
    close: () => {
      for (const res of listeners.values()) res.end()
      server.close()
    }
  }
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://bench')
    const script = scripts.get(url.pathname)
    if (url.pathname === '/') res.writeHead(200, { 'content-type': 'text/html' }).end(html('/call-page.js'))
    else if (url.pathname === '/forwarder.html') res.writeHead(200, { 'content-type': 'text/html' }).end(html('/forwarder.js'))
    else if (script !== undefined) res.writeHead(200, { 'content-type': 'text/javascript' }).end(script)
    else if (url.pathname === '/signal' && req.method === 'GET') {
      listeners.set(url.searchParams.get('name') ?? '', res)
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store' }).write(': listening\n\n')
    } else if (url.pathname === '/signal' && req.method === 'POST') {
      let body = ''
      req.on('data', (chunk: Buffer) => { body += chunk.toString() })
      req.on('end', () => {
        const { from, to, signal } = JSON.parse(body) as { from: string, to: string, signal: unknown }
        if (to === 'forwarder' && site.toForwarder !== undefined) site.toForwarder(from, signal)
        else if (listeners.has(to)) site.deliver(to, from, signal)
        else return res.writeHead(404).end()
        res.writeHead(204).end()
      })
    } else res.writeHead(404).end()
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  site.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`
  return site
}

/** One person in a call: a browser of their own with one call page. */
interface Participant {
  /** how the others' figures name it: the plain page's name, or its node's peer id */
  name: string
  /** how progress lines and call.join name it */
  display: string
  userDataDir: string
  context: BrowserContext
  page: Page
  /** page clock − bench clock, ms, and half the round trip it was read with */
  clock: { offsetMs: number, uncertaintyMs: number }
  /** the offset removed from cross-page figures: 0 when the reading cannot tell it from 0 */
  skewMs: number
  /** its extension profile (Peerloom kinds) */
  profile?: Profile
}

/**
 * The page clock's offset from the bench's, from the quickest of 15 round trips; `skewMs` is
 * that offset when it is larger than the reading's uncertainty, else 0 (pages on one machine
 * share its clock, and removing a reading's noise would add error, not take it away).
 */
async function readClockOffset (page: Page): Promise<{ clock: { offsetMs: number, uncertaintyMs: number }, skewMs: number }> {
  let best = { offsetMs: 0, uncertaintyMs: Number.POSITIVE_INFINITY }
  for (let i = 0; i < 15; i++) {
    const before = benchClock()
    const pageClock = await page.evaluate(() => window.callBench!.clock())
    const after = benchClock()
    if ((after - before) / 2 < best.uncertaintyMs) best = { offsetMs: pageClock - (before + after) / 2, uncertaintyMs: (after - before) / 2 }
  }
  return { clock: best, skewMs: Math.abs(best.offsetMs) > best.uncertaintyMs ? best.offsetMs : 0 }
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
  return { name, display: name, userDataDir, context, page, ...await readClockOffset(page) }
}

async function figuresOf (p: Participant): Promise<{ sentFrames: number, receivers: ReceiverFigures[], chatOneWayMs: number[] }> {
  return await p.page.evaluate(() => window.callBench!.figures())
}

/** Polls `check` every `intervalMs` until it returns a value; the error says what did not happen (`what()`, read last). */
async function waitUntil<T> (check: () => Promise<T | undefined>, timeoutMs: number, what: () => string, intervalMs = 500): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await check()
    if (value !== undefined) return value
    if (Date.now() > deadline) throw new Error(`${what()} within ${timeoutMs} ms`)
    await sleep(intervalMs)
  }
}

/** Waits until `p` decoded a frame from each of `from`; returns its figures then. */
async function waitFrames (p: Participant, from: string[]): Promise<ReceiverFigures[]> {
  let missing: string[] = from
  return await waitUntil(async () => {
    const seen = (await figuresOf(p)).receivers.filter(r => from.includes(r.label) && r.firstFrameAt !== undefined)
    missing = from.filter(f => !seen.some(r => r.label === f))
    return missing.length === 0 ? seen : undefined
  }, JOIN_TIMEOUT_MS, () => `${p.name} decoded no frame from ${missing.join(', ')}`, 50)
}

/** Waits until `p` decoded `more` frames from each of `from` beyond what `since` (its figures earlier) counted. */
async function waitMoreFrames (p: Participant, from: string[], more: number, since: ReceiverFigures[], timeoutMs = JOIN_TIMEOUT_MS): Promise<void> {
  const before = new Map(since.map(r => [r.label, r.frames]))
  let behind: string[] = from
  await waitUntil(async () => {
    const { receivers } = await figuresOf(p)
    behind = from.filter(f => (receivers.find(r => r.label === f)?.frames ?? 0) < (before.get(f) ?? 0) + more)
    return behind.length === 0 ? true : undefined
  }, timeoutMs, () => `${p.display} decoded fewer than ${more} new frames from ${behind.join(', ')}`, 200)
}

/** A join's figures from the joiner's receivers: first and last first frame, and the first track's arrival. */
interface JoinFigures { first: number, all: number, track: number }

function joinFigures (seen: ReceiverFigures[], joinedAt: number): JoinFigures {
  const firsts = seen.map(r => r.firstFrameAt! - joinedAt)
  return { first: Math.min(...firsts), all: Math.max(...firsts), track: Math.min(...seen.map(r => (r.trackAt ?? r.firstFrameAt!) - joinedAt)) }
}

/** What one measuring window gave, before it is pooled into a CallConfig. */
interface Window_ {
  /** the forwarder's CPU by process kind (% of a core) and streams it forwarded at the end */
  forwarder?: { load: number, cpuByKindPct: CpuByKind }
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
  /** per receiver and sender: the longest time between two decoded frames in the window, or from the last one to its end */
  gaps: number[]
  /** chat sends that were refused (the page's chat stops at its first) */
  chatErrors: string[]
  /** what `event` (failover: the forwarder killed) reported */
  event?: Record<string, unknown>
}

/** Something done to a call in the middle of a measuring window, `atMs` after it starts. */
interface WindowEvent { atMs: number, lengthMs: number, run: () => Promise<Record<string, unknown>> }

/**
 * One measuring window over a call everyone already sees: CPU of each participant's browser,
 * every decoded frame's glass-to-glass time, and `chat` run by each page while it lasts.
 */
async function measureWindow (people: Participant[], chat: (p: Participant) => Promise<void>, forwarder?: Forwarder, event?: WindowEvent): Promise<Window_> {
  await sleep(WARMUP_MS)
  for (const p of people) await p.page.evaluate(() => { window.callBench!.resetWindow() })
  const cpuBefore = people.map(p => profileCpuMs(p.userDataDir))
  const forwarderBefore = forwarder === undefined ? undefined : profileCpuMs(forwarder.userDataDir)
  const started = Date.now()
  // a refused send is counted, not fatal: the window's media figures still stand
  const chatErrors: string[] = []
  const chats = Promise.all(people.map(async p => { await chat(p).catch((err: Error) => { chatErrors.push(`${p.display}: ${err.message.split('\n')[0]!.replace(/^page\.evaluate: /, '')}`) }) }))
  let happened: Record<string, unknown> | undefined
  if (event === undefined) await sleep(WINDOW_MS)
  else {
    await sleep(event.atMs)
    happened = await event.run()
    await sleep(Math.max(0, event.lengthMs - (Date.now() - started)))
  }
  await chats
  const cpuAfter = people.map(p => profileCpuMs(p.userDataDir))
  const forwarderUsed = forwarderBefore === undefined ? undefined : cpuSince(forwarderBefore, profileCpuMs(forwarder!.userDataDir))
  const elapsed = Date.now() - started
  const load = forwarder === undefined ? 0 : (await forwarder.page.evaluate(() => (window as any).forwarder.stats()) as { load: number }).load
  const all = await Promise.all(people.map(figuresOf))
  const byName = new Map(people.map(p => [p.name, p]))
  const w: Window_ = {
    forwarder: forwarderUsed === undefined ? undefined : { load, cpuByKindPct: Object.fromEntries(Object.entries(forwarderUsed).map(([kind, ms]) => [kind, ms / elapsed * 100])) },
    g2g: [], received: [], sentFps: [], heights: [], chat: [], fps: [], frames: 0, undecodable: 0, lost: 0, expected: 0, cpuPct: [], cpuByKind: [], gaps: [], chatErrors, ...(happened === undefined ? {} : { event: happened }) }
  for (const [i, p] of people.entries()) {
    const used = cpuSince(cpuBefore[i]!, cpuAfter[i]!)
    w.cpuPct.push(totalMs(used) / elapsed * 100)
    w.cpuByKind.push(Object.fromEntries(Object.entries(used).map(([kind, ms]) => [kind, ms / elapsed * 100])))
    const figures = all[i]!
    w.sentFps.push(figures.sentFrames / (elapsed / 1000))
    // the chat senders are every other participant: their stamps are on their own clocks
    const others = people.filter(o => o !== p)
    const meanSkew = others.reduce((s, o) => s + o.skewMs, 0) / others.length
    w.chat.push(...figures.chatOneWayMs.map(ms => ms - (p.skewMs - meanSkew)))
    for (const r of figures.receivers) {
      const from = byName.get(r.label)
      if (from === undefined) continue
      const skew = p.skewMs - from.skewMs
      w.g2g.push(...r.g2gMs.map(ms => ms - skew))
      w.received.push(...r.receivedMs.map(ms => ms - skew))
      w.heights.push(r.height)
      w.fps.push(r.frames / (elapsed / 1000))
      w.frames += r.frames
      w.undecodable += r.undecodable
      w.lost += r.lost
      w.expected += r.frames - r.undecodable + r.lost
      w.gaps.push(Math.max(r.longestGapMs, r.sinceLastFrameMs ?? elapsed))
    }
  }
  return w
}

/** The forwarder's CPU per window, mean over the windows; per stream = its whole browser / load. */
function forwarderFigures (windows: Window_[]): Pick<CallConfig, 'forwarder'> {
  const seen = windows.map(w => w.forwarder).filter(f => f !== undefined)
  if (seen.length === 0) return {}
  const byKind: CpuByKind = {}
  for (const f of seen) for (const [kind, p] of Object.entries(f.cpuByKindPct)) byKind[kind] = (byKind[kind] ?? 0) + p / seen.length
  const cpuPct = totalMs(byKind)
  const load = median(seen.map(f => f.load))
  return { forwarder: { cpuPct, cpuByKindPct: byKind, load, cpuPerStreamPct: load === 0 ? Number.NaN : cpuPct / load } }
}

function pool (kind: CallConfig['kind'], participants: number, joins: JoinFigures[], windows: Window_[], failures: string[]): CallConfig {
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
    joinToTrackMs: quantiles(joins.map(j => j.track)),
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
    longestGapMs: quantiles(windows.flatMap(w => w.gaps)),
    chatErrors: windows.flatMap(w => w.chatErrors),
    ...forwarderFigures(windows),
    ...(kind === 'failover' ? { failover: windows.map(w => w.event ?? {}) } : {}),
    failures,
    windows: windows.length,
    windowMs: WINDOW_MS
  }
}

/**
 * The baseline with `people.length` participants: the first n − 1 connect to each other, then
 * the last joins them (it offers to each; in Peerloom the members offer to a joiner);
 * join → first remote frame is timed in the joiner's page.
 */
async function plainCall (people: Participant[]): Promise<JoinFigures> {
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
  for (const m of members) await waitFrames(m, [joiner.name])
  return joinFigures(seen, joinedAt)
}

/** How a kind of call is set up, joined, chatted in and left. */
interface CallKind {
  kind: CallConfig['kind']
  /** the forwarder whose CPU and load each window reads */
  forwarder?: Forwarder
  /** Sets up a call of `people` with the last one joining last; its join → frames. */
  call: (people: Participant[], run: number) => Promise<JoinFigures>
  chat: (p: Participant) => Promise<void>
  leave: (p: Participant) => Promise<void>
  /** done in the middle of each measuring window (failover: the forwarder killed) */
  event?: WindowEvent
}

const chatArgs = [CHAT_MESSAGES, CHAT_BYTES, CHAT_EVERY_MS] as const

const PLAIN: CallKind = {
  kind: 'plain',
  call: async people => await plainCall(people),
  chat: async p => { await p.page.evaluate(async ([c, b, e]) => { await window.callBench!.plainChat(c, b, e) }, chatArgs) },
  leave: async p => { await p.page.evaluate(() => { window.callBench!.plainLeave() }) }
}

/**
 * A Peerloom mesh of `people`: the first n − 1 join room `run` and see each other, then the last
 * joins; join → first remote frame is timed in its page from just before `peerloom.call.join`.
 */
async function meshCall (people: Participant[], run: number, prefix = 'bench-call'): Promise<JoinFigures> {
  const room = `${prefix}-${people.length}-${run}-${Date.now()}`
  const joiner = people.at(-1)!
  const members = people.slice(0, -1)
  for (const p of members) await joinPeerloom(p, room)
  for (const m of members) await waitFrames(m, members.filter(o => o !== m).map(o => o.name))
  const joinedAt = await joinPeerloom(joiner, room)
  const seen = await waitFrames(joiner, members.map(m => m.name))
  for (const m of members) await waitFrames(m, [joiner.name])
  return joinFigures(seen, joinedAt)
}

/** `peerloom.call.join` in `p`'s page; returns the page clock before the call. */
async function joinPeerloom (p: Participant, room: string): Promise<number> {
  const { joinedAt, peerId } = await p.page.evaluate(async ([r, n]) => await window.callBench!.peerloomJoin(r, n), [room, p.display] as const)
  if (peerId !== p.name) throw new Error(`${p.display} joined as ${peerId}, its node is ${p.name}`)
  return joinedAt
}

const MESH: CallKind = {
  kind: 'mesh',
  call: meshCall,
  chat: async p => { await p.page.evaluate(async ([c, b, e]) => { await window.callBench!.peerloomChat(c, b, e) }, chatArgs) },
  leave: async p => { await p.page.evaluate(async () => { await window.callBench!.peerloomLeave() }) }
}

/** The forwarder engine in a Chromium of its own, so its CPU is read apart from the participants'. */
interface Forwarder {
  userDataDir: string
  context: BrowserContext
  page: Page
}

/** The room every forwarder-engine call is in (the engine only groups legs by it). */
const ENGINE_ROOM = '0x' + 'ca'.repeat(32)
const legId = (p: Participant): string => `${ENGINE_ROOM}/${p.name}`

/**
 * Starts e2e/src/forwarder-page.ts (the extension's ForwarderEngine and frame relay) in an
 * ordinary Chromium, with no stream cap; its signals go through the bench's server in order per leg.
 */
async function launchForwarder (site: BenchSite): Promise<Forwarder> {
  const userDataDir = await mkdtemp(join(tmpdir(), 'peerloom-call-forwarder-'))
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    ignoreDefaultArgs: SWITCHES_USERS_DO_NOT_HAVE,
    args: chromiumArgs().filter(arg => !arg.startsWith('--disable-extensions-except=') && !arg.startsWith('--load-extension='))
  })
  const page = context.pages()[0] ?? await context.newPage()
  await page.exposeFunction('fwSend', async (leg: string, message: unknown) => { site.deliver(leg.slice(ENGINE_ROOM.length + 1), 'forwarder', message) })
  await page.goto(new URL('/forwarder.html', site.url).href)
  await page.waitForFunction(() => 'forwarder' in window)
  await page.evaluate(() => { (window as any).forwarder.start({ maxStreams: 256, uploadRateBytesPerSec: 1 << 30 }) })
  const lanes = new Map<string, Promise<void>>()
  site.toForwarder = (from, signal) => {
    const lane = (lanes.get(from) ?? Promise.resolve()).then(async () => {
      const result = await page.evaluate(async ([leg, data]) => await (window as any).forwarder.receive(leg, { type: 'signal', data }), [`${ENGINE_ROOM}/${from}`, signal] as const) as { ok: boolean, message?: string }
      if (!result.ok) say(`  the forwarder refused a signal from ${from}: ${result.message ?? ''}`)
    }).catch((err: Error) => { if (!page.isClosed()) say(`  signal ${from}→forwarder failed: ${err.message.split('\n')[0]}`) })
    lanes.set(from, lane)
  }
  return { userDataDir, context, page }
}

async function attach (forwarder: Forwarder, p: Participant): Promise<void> {
  const result = await forwarder.page.evaluate(([leg, room, peer]) => (window as any).forwarder.attach(leg, room, peer), [legId(p), ENGINE_ROOM, p.name] as const) as { ok: boolean, message?: string }
  if (!result.ok) throw new Error(`the forwarder refused ${p.name}: ${result.message ?? ''}`)
}

/**
 * Plain pages through the forwarder engine: the first n − 1 attach and see each other, then the
 * last one; join → first remote frame is timed in its page from just before it readies its leg.
 */
function engineKind (forwarder: Forwarder): CallKind {
  return {
    kind: 'forwarder-engine',
    forwarder,
    call: async people => {
      const joiner = people.at(-1)!
      const members = people.slice(0, -1)
      for (const p of members) {
        await p.page.evaluate(() => { window.callBench!.legPrepare() })
        await attach(forwarder, p)
      }
      for (const m of members) await waitFrames(m, members.filter(o => o !== m).map(o => o.name))
      const joinedAt = await joiner.page.evaluate(() => { const at = window.callBench!.clock(); window.callBench!.legPrepare(); return at })
      await attach(forwarder, joiner)
      const seen = await waitFrames(joiner, members.map(m => m.name))
      for (const m of members) await waitFrames(m, [joiner.name])
      return joinFigures(seen, joinedAt)
    },
    chat: async () => {}, // the engine carries no data channel yet
    leave: async p => {
      await p.page.evaluate(() => { window.callBench!.legLeave() })
      await forwarder.page.evaluate(async leg => await (window as any).forwarder.receive(leg, { type: 'detach' }), legId(p))
    }
  }
}

/** `RUNS` measuring windows (and for two participants `JOINS` joins) of one kind and size. */
async function measureConfig (kind: CallKind, people: Participant[]): Promise<CallConfig> {
  const n = people.length
  say(`bench:call: ${kind.kind}, ${n} participants…`)
  callPeople.set(kind, people)
  for (const p of people) await p.page.evaluate(async () => { await window.callBench!.startSender() })
  const joins: JoinFigures[] = []
  const windows: Window_[] = []
  const failures: string[] = []
  const leave = async (): Promise<void> => { for (const p of people) await kind.leave(p) }
  /** One call set up (and measured); a call that does not connect is counted, not fatal. */
  const attempt = async (measure: boolean): Promise<void> => {
    try {
      joins.push(await kind.call(people, joins.length + failures.length))
      if (measure) {
        windows.push(await measureWindow(people, kind.chat, kind.forwarder, kind.event))
        const last = windows.at(-1)!
        const gaps = quantiles(last.gaps)
        say(`  window ${windows.length}: join → first frame ${joins.at(-1)!.first.toFixed(0)} ms, glass to glass p50 ${quantiles(last.g2g).p50.toFixed(1)} ms, ${median(last.fps).toFixed(1)} fps, CPU ${median(last.cpuPct).toFixed(0)} % per participant, longest gap p50 / max ${gaps.p50.toFixed(0)} / ${gaps.max.toFixed(0)} ms${last.chatErrors.length === 0 ? '' : `, chat refused: ${last.chatErrors.join('; ')}`}${last.event === undefined ? '' : `, ${JSON.stringify(last.event)}`}`)
      }
    } catch (err) {
      failures.push((err as Error).message.split('\n')[0]!)
      say(`  ${failures.at(-1)!}`)
    } finally {
      await leave()
    }
  }
  try {
    // two-participant calls are cheap to set up: extra joins, for the join figure's p95
    for (let i = 0; n === 2 && i < JOINS - RUNS; i++) await attempt(false)
    // a size where calls do not connect twice in a row is given up
    for (let i = 0; i < RUNS && !(failures.length >= 2 && windows.length === 0); i++) await attempt(true)
  } finally {
    await leave().catch(() => {})
    for (const p of people) await p.page.evaluate(() => { window.callBench!.stopSender() })
  }
  return pool(kind.kind, n, joins, windows, failures)
}

/**
 * A profile with the built extension on the devnet, on the demo site with the bench page's code
 * added, the site allowed (calls need consent). Its name in the figures is its node's peer id.
 */
async function launchPeerloom (display: string, devnet: Devnet, siteUrl: string, bundle: string): Promise<Participant> {
  // the first launch after a build sometimes misses the service worker's start; one retry
  const profile = await Profile.launch(display).catch(async (err: Error) => {
    say(`  ${display}: ${err.message.split('\n')[0]}; launching again`)
    return await Profile.launch(display)
  })
  await profile.configure(devnet.settings())
  const { peerId } = await profile.waitReachable()
  const page = await openSite(profile, siteUrl)
  if ((await connectAnswering(profile, page, 'allow')).peerId === undefined) throw new Error(`${display}: the site was not allowed`)
  await page.addScriptTag({ content: bundle })
  await page.waitForFunction(() => window.callBench !== undefined)
  return { name: peerId!, display, userDataDir: profile.userDataDir, context: profile.context, page, profile, ...await readClockOffset(page) }
}

/** A donor: a profile with the media role on, whose node forwards calls (docs/CALLS.md, Forwarders). */
interface Donor { display: string, peerId: string, profile: Profile }

async function launchDonor (display: string, devnet: Devnet): Promise<Donor> {
  const profile = await Profile.launch(display).catch(async (err: Error) => {
    say(`  ${display}: ${err.message.split('\n')[0]}; launching again`)
    return await Profile.launch(display)
  })
  await profile.configure({ ...devnet.settings(), media: { forward: true, maxStreams: 64, uploadRateBytesPerSec: 16 * 1024 * 1024 } })
  const { peerId } = await profile.waitReachable(120_000)
  return { display, peerId: peerId!, profile }
}

interface ForwarderStats { load: number, legs: Array<{ roomId: string, peerId: string, kind: string, streams: number }> }


/**
 * A forwarded room of FAILOVER_SIZE participants with two donors up (each participant's node has
 * heard both): the call settles on one forwarder, X; each window kills X's browser
 * FAILOVER_KILL_AT_MS in, and the gaps in every receiver's decoded frames around it are the
 * failover gap. The killed donor is replaced by a fresh one before the next call.
 */
function failoverKind (devnet: Devnet, donors: Donor[]): CallKind {
  let current: Donor | undefined
  const ensureDonors = async (): Promise<void> => {
    for (const [i, d] of donors.entries()) {
      if (d.profile.context.pages().length > 0) continue
      await rm(d.profile.userDataDir, { recursive: true, force: true }).catch(() => {})
      donors[i] = await launchDonor(`${d.display.replace(/-\d+$/, '')}-${Date.now() % 100_000}`, devnet)
    }
  }
  const kind: CallKind = {
    kind: 'failover',
    call: async (people, run) => {
      await ensureDonors()
      const ids = donors.map(d => d.peerId)
      for (const p of people) {
        await waitUntil(async () => {
          const { heard } = await p.profile!.call<{ heard: Array<{ peerId: string, ageMs: number }> }>('forwarderClient')
          return ids.every(id => heard.some(h => h.peerId === id && h.ageMs < 15_000)) ? true : undefined
        }, FORWARDED_TIMEOUT_MS, () => `${p.display} heard the forwarders ${ids.join(', ')}`)
      }
      // everyone joins at once: waiting for a 4-way mesh first only adds a phase that can starve on a small machine
      const room = `bench-failover-${people.length}-${run}-${Date.now()}`
      const joinedAt: number[] = []
      for (const p of people) joinedAt.push(await joinPeerloom(p, room))
      const states = async (): Promise<string[]> => await Promise.all(people.map(async p => JSON.stringify(await p.page.evaluate(() => window.callBench!.peerloomState()))))
      await waitUntil(async () => (await states()).every(s => s.includes('"forwarded"')) ? true : undefined, FORWARDED_TIMEOUT_MS, () => 'every page forwarded')
        .catch(async (err: Error) => {
          const clients = await Promise.all(people.map(async p => `${p.display} ${JSON.stringify(await p.profile!.call('forwarderClient').catch((e: Error) => e.message))}`))
          throw new Error(`${err.message}; pages ${(await states()).join(' ')}; forwarder clients ${clients.join(' ')}`)
        })
      let seen = ''
      current = await waitUntil(async () => {
        const stats = await Promise.all(donors.map(async d => await d.profile.call<ForwarderStats | null>('forwarderStats')))
        seen = stats.map((st, i) => `${donors[i]!.display}: ${(st?.legs ?? []).map(l => `${l.kind} ${l.peerId.slice(-6)} ${l.streams}`).join(', ')}`).join('; ')
        const at = stats.findIndex(st => people.every(p => st?.legs.some(l => l.kind === 'participant' && l.peerId === p.name && l.streams === 2 * (people.length - 1))))
        return at === -1 ? undefined : donors[at]
      }, FORWARDED_TIMEOUT_MS, () => `all ${people.length} participants on one forwarder, every leg ${2 * (people.length - 1)} streams (${seen})`)
      // frames through the forwarder, not the mesh that carried the room until its last member joined
      const since = await Promise.all(people.map(async p => (await figuresOf(p)).receivers))
      await Promise.all(people.map(async (p, i) => { await waitMoreFrames(p, people.filter(o => o !== p).map(o => o.name), 2 * CAMERA_FPS, since[i]!, FORWARDED_TIMEOUT_MS) }))
      const last = people.at(-1)!
      return joinFigures((await figuresOf(last)).receivers.filter(r => people.some(o => o.name === r.label)), joinedAt.at(-1)!)
    },
    chat: async () => {}, // the gap is about media; chat would only add load while the call moves
    leave: MESH.leave,
    event: {
      atMs: FAILOVER_KILL_AT_MS,
      lengthMs: FAILOVER_KILL_AT_MS + FAILOVER_AFTER_MS,
      run: async () => {
        const killed = current!
        // the SIGKILL goes out before kill() first waits
        void killed.profile.kill().catch(() => {})
        const other = donors.find(d => d !== killed)!
        // the pages' topology and the other forwarder's legs at the window's end
        await sleep(FAILOVER_AFTER_MS - 1000)
        return {
          killed: killed.peerId,
          topologies: await Promise.all(participantsOf(kind).map(async p => (await p.page.evaluate(() => window.callBench!.peerloomState()))?.topology ?? 'none')),
          legsOnTheOther: ((await other.profile.call<ForwarderStats | null>('forwarderStats').catch(() => null))?.legs ?? []).filter(l => l.kind === 'participant').length
        }
      }
    }
  }
  return kind
}

/** The participants a kind's current call was set up with (set by measureConfig). */
const callPeople = new WeakMap<CallKind, Participant[]>()
const participantsOf = (kind: CallKind): Participant[] => callPeople.get(kind) ?? []

const startedAt = new Date()
const loadBefore = loadavg()[0]!
const chromiumVersion = /\d+(\.\d+)+/.exec(execFileSync(CHROMIUM, ['--version'], { stdio: ['ignore', 'pipe', 'ignore'] }).toString())?.[0] ?? 'unknown'
const site = await servePage()
const people: Participant[] = []
const configs: CallConfig[] = []
let devnet: Devnet | undefined
let demo: DemoSite | undefined
let forwarder: Forwarder | undefined
const donors: Donor[] = []
try {
  const largest = Math.max(...MESH_SIZES)
  const failover = KINDS.includes('failover')
  const plain: Participant[] = []
  const peerloom: Participant[] = []
  for (let i = 0; i < largest; i++) plain.push(await launchPlain(`plain${i + 1}`, site.url))
  people.push(...plain)
  const profiles = Math.max(KINDS.includes('mesh') ? largest : 0, failover ? FAILOVER_SIZE : 0)
  if (profiles > 0) {
    buildExtension() // rebuilds .output/chrome-mv3 when its sources changed
    devnet = await startDevnet()
    demo = await startSite(devnet, [])
    say(`bench:call: launching ${profiles} profiles with the extension${failover ? ' and 2 donors' : ''}…`)
    if (failover) for (const d of ['donorA', 'donorB']) donors.push(await launchDonor(d, devnet))
    for (let i = 0; i < profiles; i++) peerloom.push(await launchPeerloom(`member${i + 1}`, devnet, demo.url, site.bundle))
    people.push(...peerloom)
  }
  if (KINDS.includes('engine')) forwarder = await launchForwarder(site)
  // kinds alternate per size, so that all see the same load on the shared machine; a kind whose
  // calls did not connect at one size is not tried at larger ones
  const kinds = [
    ...(KINDS.includes('plain') ? [{ kind: PLAIN, people: plain }] : []),
    ...(forwarder !== undefined ? [{ kind: engineKind(forwarder), people: plain }] : []),
    ...(KINDS.includes('mesh') ? [{ kind: MESH, people: peerloom }] : [])
  ]
  const givenUp = new Set<string>()
  for (const n of MESH_SIZES) {
    for (const { kind, people: pool } of kinds) {
      if (givenUp.has(kind.kind)) continue
      const config = await measureConfig(kind, pool.slice(0, n))
      configs.push(config)
      if (config.windows === 0) givenUp.add(kind.kind)
    }
  }
  // not per mesh size: the one size above MESH_MAX_PARTICIPANTS
  if (failover) configs.push(await measureConfig(failoverKind(devnet!, donors), peerloom.slice(0, FAILOVER_SIZE)))
} finally {
  site.toForwarder = undefined // what is still in flight goes nowhere once the pages close
  for (const p of [...people, ...(forwarder === undefined ? [] : [forwarder])]) await p.context.close().catch(() => {})
  for (const d of donors) await d.profile.context.close().catch(() => {})
  for (const d of donors) await rm(d.profile.userDataDir, { recursive: true, force: true }).catch(() => {})
  for (const p of [...people, ...(forwarder === undefined ? [] : [forwarder])]) await rm(p.userDataDir, { recursive: true, force: true }).catch(() => {})
  site.close()
  await demo?.stop()
  await devnet?.stop()
}

const entry: CallRun = await appendRun(join(import.meta.dirname, 'results', 'call.json'), startedAt, {
  cores: cpus().length,
  loadAverage: { before: loadBefore.toFixed(1), after: loadavg()[0]!.toFixed(1) },
  chromium: chromiumVersion,
  chatBytes: CHAT_BYTES,
  clock: {
    largestOffsetMs: Math.max(...people.map(p => Math.abs(p.clock.offsetMs))),
    uncertaintyMs: Math.max(...people.map(p => p.clock.uncertaintyMs)),
    largestRemovedMs: Math.max(...people.map(p => Math.abs(p.skewMs)))
  },
  configs
})
say(`\n${callTable(entry)}\n\nappended to bench/results/call.json`)
process.exit(0) // Playwright handles would otherwise keep the process alive
