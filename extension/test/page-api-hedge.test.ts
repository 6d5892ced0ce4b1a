/**
 * The fetch strategy the page API relies on: peers first, the origin after the hedge delay
 * (longer while a found provider is still being dialled), and no lookups at all for content
 * that is cached.
 */
import './polyfills.ts'
import 'fake-indexeddb/auto'
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import type { Connection } from '@libp2p/interface'
import { multiaddr } from '@multiformats/multiaddr'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { sha256 } from 'multiformats/hashes/sha2'
import { BlockCache } from '../src/cache/block-cache.ts'
import { ContentSession } from '../src/blocks/block-fetcher.ts'
import type { Clock, ProviderInfo } from '../src/blocks/block-fetcher.ts'
import { ORIGIN_HEAD_BLOCKS_WHILE_DIALING, PROVIDER_DIAL_GRACE_MS } from '../src/constants.ts'
import { openStateDb } from '../src/storage/state-db.ts'

const HEDGE_MS = 300
let dbs = 0

/**
 * An origin gateway that records when each block was asked for, which blocks it answered (in
 * order), and the most requests it held at once. `content` is one block served for any CID, or
 * blocks served by CID; each answer waits `delayMs`.
 */
async function origin (content: Uint8Array | Array<{ cid: CID, data: Uint8Array }>, delayMs = 0): Promise<{ url: string, asked: number[], served: string[], most: () => number, close: () => void }> {
  const asked: number[] = []
  const served: string[] = []
  let open = 0
  let most = 0
  const server = createServer((req, res) => {
    asked.push(Date.now())
    open++
    most = Math.max(most, open)
    const block = content instanceof Uint8Array ? { cid: undefined, data: content } : content.find(b => req.url?.includes(b.cid.toString()))
    setTimeout(() => {
      open--
      served.push(block?.cid?.toString() ?? '?')
      res.writeHead(200, { 'content-type': 'application/vnd.ipld.raw', 'content-length': block?.data.length ?? 0 }).end(block?.data)
    }, delayMs)
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, asked, served, most: () => most, close: () => { server.close() } }
}

/**
 * Time that moves only when the test moves it: what the session decides by the clock (when the
 * origin is asked) is then the same on a busy machine as on an idle one.
 */
class ManualClock implements Clock {
  private time = 0
  private nextId = 1
  private readonly timers = new Map<number, { at: number, callback: () => void }>()

  now = (): number => this.time
  setTimeout = (callback: () => void, ms: number): ReturnType<typeof setTimeout> => {
    const id = this.nextId++
    this.timers.set(id, { at: this.time + Math.max(0, ms), callback })
    return id as unknown as ReturnType<typeof setTimeout>
  }

  clearTimeout = (timer: ReturnType<typeof setTimeout> | undefined): void => { this.timers.delete(timer as unknown as number) }

  /** Moves time on by `ms`, running each timer that falls due, in order, at its own time. */
  advance (ms: number): void {
    const until = this.time + ms
    for (;;) {
      const due = [...this.timers].filter(([, t]) => t.at <= until).sort((a, b) => a[1].at - b[1].at || a[0] - b[0])[0]
      if (due === undefined) break
      this.timers.delete(due[0])
      this.time = due[1].at
      due[1].callback()
    }
    this.time = until
  }
}

/** Lets everything already started run (promise chains, fake-indexeddb): no real time passes for the clock. */
async function settle (): Promise<void> {
  for (let i = 0; i < 20; i++) await new Promise(resolve => setImmediate(resolve))
}

/** An origin answered in memory: it records the session clock's time of each request. */
function memoryOrigin (clock: Clock, content: Uint8Array): { fetch: typeof globalThis.fetch, asked: number[] } {
  const asked: number[] = []
  const fetch = async (): Promise<Response> => {
    asked.push(clock.now())
    return new Response(content as Uint8Array<ArrayBuffer>, { headers: { 'content-type': 'application/vnd.ipld.raw', 'content-length': String(content.length) } })
  }
  return { fetch: fetch as typeof globalThis.fetch, asked }
}

/**
 * Runs `clock` on in 5 ms steps, letting the session act after each, until the origin was asked
 * (at most `limitMs` of the clock's time); returns the clock's time of the first request.
 */
async function runUntilAsked (clock: ManualClock, asked: number[], limitMs: number): Promise<number> {
  await settle()
  while (asked.length === 0 && clock.now() < limitMs) {
    clock.advance(5)
    await settle()
  }
  assert.ok(asked.length > 0, `the origin was not asked within ${limitMs} ms of the session's time`)
  return asked[0] as number
}

async function setup (providers: (signal: AbortSignal) => AsyncIterable<ProviderInfo>, dial: (signal: AbortSignal) => Promise<Connection>, gateway: string, time: { clock?: Clock, fetch?: typeof globalThis.fetch } = {}) {
  const cache = new BlockCache({ db: await openStateDb(`hedge-${process.pid}-${dbs++}`), capBytes: 64 * 1024 * 1024, persistIntervalMs: 60_000 })
  await cache.start()
  let lookups = 0
  const session = new ContentSession({
    cache,
    selfId: 'self',
    findProviders: (_cid, { signal }) => { lookups++; return providers(signal) },
    dialProvider: async (_provider, { signal }) => await dial(signal),
    gateways: () => [gateway],
    hedgeDelayMs: () => HEDGE_MS,
    onReceived: () => {},
    onCacheError: () => {},
    ...time
  })
  return { session, cache, lookups: () => lookups, stop: async () => { session.close(); await cache.stop() } }
}

const bytes = new Uint8Array(4096).fill(3)
const cid = CID.createV1(raw.code, await sha256.digest(bytes))
const provider: ProviderInfo = { id: peerIdFromPrivateKey(await generateKeyPair('Ed25519')), multiaddrs: [multiaddr('/ip4/127.0.0.1/tcp/1/ws/p2p-circuit/webrtc')] }
const never = async (signal: AbortSignal): Promise<never> => await new Promise((_resolve, reject) => { signal.addEventListener('abort', () => { reject(new Error('aborted')) }) })
/** A lookup that never answers, and one that finds nobody. */
const stalled = (signal: AbortSignal): AsyncIterable<ProviderInfo> => ({ [Symbol.asyncIterator]: () => ({ next: async () => await never(signal) }) })
const nobody = (): AsyncIterable<ProviderInfo> => ({ [Symbol.asyncIterator]: () => ({ next: async () => ({ done: true as const, value: undefined }) }) })

test('while providers are still being looked up, the origin waits for the hedge delay', async () => {
  const clock = new ManualClock()
  const gw = memoryOrigin(clock, bytes)
  const { session, stop } = await setup(stalled, never, 'http://origin.invalid', { clock, fetch: gw.fetch })
  try {
    session.discover(cid)
    const got = session.get(cid)
    // the session's own time: the hedge delay and nothing more, however busy the machine
    const waited = await runUntilAsked(clock, gw.asked, HEDGE_MS + PROVIDER_DIAL_GRACE_MS)
    assert.ok(waited >= HEDGE_MS && waited < HEDGE_MS + PROVIDER_DIAL_GRACE_MS, `origin asked at ${waited} ms`)
    assert.deepEqual(await got, bytes)
  } finally {
    await stop()
  }
})

test('a provider that was found but is still being dialled gets the dial grace too', async () => {
  const gw = await origin(bytes)
  const { session, stop } = await setup(async function * () { yield provider }, never, gw.url)
  const started = Date.now()
  session.discover(cid)
  assert.deepEqual(await session.get(cid), bytes)
  const waited = (gw.asked[0] as number) - started
  assert.ok(waited >= HEDGE_MS + PROVIDER_DIAL_GRACE_MS - 5, `origin asked after ${waited} ms`)
  await stop()
  gw.close()
})

test('while a found provider is still being dialled, the origin serves only the blocks the reader waits on first', async () => {
  const blocks = await Promise.all(Array.from({ length: 8 }, async (_, i) => {
    const data = new Uint8Array(4096).fill(10 + i)
    return { data, cid: CID.createV1(raw.code, await sha256.digest(data)) }
  }))
  const gw = await origin(blocks, 60)
  const { session, stop } = await setup(async function * () { yield provider }, never, gw.url)
  try {
    session.discover(blocks[0]!.cid)
    // the reader asks for all eight at once (read-ahead); each resolves with its own bytes
    const got = await Promise.all(blocks.map(async b => await session.get(b.cid)))
    got.forEach((bytes, i) => { assert.deepEqual(bytes, blocks[i]!.data) })
    assert.equal(gw.most(), ORIGIN_HEAD_BLOCKS_WHILE_DIALING)
    assert.deepEqual(gw.served.slice(0, 2).sort(), blocks.slice(0, 2).map(b => b.cid.toString()).sort()) // the reader's order
  } finally {
    await stop()
    gw.close()
  }
})

test('when the lookup finds nobody, the origin is asked at once', async () => {
  const clock = new ManualClock()
  const gw = memoryOrigin(clock, bytes)
  const { session, stop } = await setup(nobody, never, 'http://origin.invalid', { clock, fetch: gw.fetch })
  try {
    session.discover(cid)
    const got = session.get(cid)
    assert.equal(await runUntilAsked(clock, gw.asked, HEDGE_MS), 0, 'asked before any of the session\'s time passed')
    assert.deepEqual(await got, bytes)
  } finally {
    await stop()
  }
})

test('cached content needs no provider lookup', async () => {
  const gw = await origin(bytes)
  const { session, cache, lookups, stop } = await setup(async function * () { yield provider }, never, gw.url)
  await cache.put(cid, bytes)
  session.discover(cid)
  assert.deepEqual(await session.get(cid), bytes)
  await new Promise(resolve => setTimeout(resolve, 20))
  assert.equal(lookups(), 0)
  assert.equal(gw.asked.length, 0)
  await stop()
  gw.close()
})
