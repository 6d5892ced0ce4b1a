/**
 * The page API host in the node's document, driven over real MessagePorts the way a page
 * drives it, with a node that serves one known file.
 */
import 'fake-indexeddb/auto'
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { CID } from 'multiformats/cid'
import * as dagJson from '@ipld/dag-json'
import { sha256 } from 'multiformats/hashes/sha2'
import { AccessDeniedError, formatLink, parseLink } from '@peerloom/shared'
import type { ContentStats, Manifest, OriginStats } from '@peerloom/shared'
import { forgetOrigin } from '../src/page-api/node/consent.ts'
import { PageApiHost, isUsableOrigin } from '../src/page-api/node/host.ts'
import type { ConsentAnswer, PageApiNode } from '../src/page-api/node/host.ts'
import { openPageApiDb } from '../src/page-api/node/page-db.ts'
import type { PageApiDb } from '../src/page-api/node/page-db.ts'
import { OriginRateLimit } from '../src/page-api/node/rate-limit.ts'
import { CacheTimingGuard } from '../src/page-api/node/timing-guard.ts'
import { IncomingStream } from '../src/page-api/wire.ts'
import type { NodeMessage } from '../src/page-api/wire.ts'

const SITE = 'https://site.example'
const CHUNK = 64 * 1024

type Source = 'fromPeers' | 'fromOrigin' | 'fromCache'

/** `source` picks where each chunk "comes from" (by chunk index); `now` is the host's clock. */
async function fixture (answers: ConsentAnswer[] = ['allowed'], fromCache = false, options: { now?: () => number, source?: (chunk: number) => Source, sleep?: (ms: number) => Promise<void> } = {}) {
  const file = new Uint8Array(randomBytes(300_000))
  const manifestCid = CID.createV1(dagJson.code, await sha256.digest(randomBytes(8)))
  const link = formatLink({ manifest: manifestCid, key: new Uint8Array(32).fill(7) })
  const asked: string[] = []
  const published: Uint8Array[] = []
  const node: PageApiNode = {
    openContent: async (requested, { range }) => {
      // a keyless (gated) link: the real node asks the key service, which refuses with a reason
      if (parseLink(requested).key === undefined) throw new AccessDeniedError('needs at least 1 DevnetPass (ERC-721 0x5FbDB2315678afecb367f032d93F642f64180aa3); 0x70997970C51812dc3A010C7d01b50e0d17dc79C8 holds 0')
      const manifest = { size: file.length, mime: 'application/octet-stream', name: 'f.bin', chunkSize: CHUNK } as Manifest
      const { start, end } = range(manifest)
      let at = start
      const stats = { fromPeers: 0, fromOrigin: 0, fromCache: 0 }
      return {
        manifestCid,
        stats,
        body: new ReadableStream<Uint8Array>({
          pull: controller => {
            if (at >= end) { controller.close(); return }
            const next = Math.min(end, (Math.floor(at / CHUNK) + 1) * CHUNK)
            stats[options.source?.(Math.floor(at / CHUNK)) ?? (fromCache ? 'fromCache' : 'fromOrigin')] += next - at
            controller.enqueue(file.slice(at, next))
            at = next
          }
        }, { highWaterMark: 0 })
      }
    },
    publish: async (source, options) => {
      const parts: Uint8Array[] = []
      for await (const part of source as unknown as AsyncIterable<Uint8Array>) parts.push(part)
      published.push(new Uint8Array(Buffer.concat(parts)))
      return { link: `${link}-${options.name}`, manifest: manifestCid.toString() }
    },
    peerId: () => '16Uiu2HAmTest'
  }
  const db = await openPageApiDb(`host-${process.pid}-${Math.random()}`)
  const host = new PageApiHost({
    node,
    db,
    ...(options.sleep === undefined ? {} : { timing: new CacheTimingGuard({ db, sleep: options.sleep }) }),
    askUser: async origin => { asked.push(origin); return answers.shift() ?? 'dismissed' },
    playerUrl: token => `chrome-extension://x/player.html#t=${token}`,
    rateLimit: new OriginRateLimit({ perSecond: 1000, burst: 1000 }),
    ...(options.now === undefined ? {} : { now: options.now })
  })
  return { host, file, link, asked, published, manifestCid }
}

/** A page's end of a port accepted by the host. */
function page (host: PageApiHost, origin = SITE) {
  const channel = new MessageChannel()
  const waiting = new Map<number, { resolve: (m: NodeMessage) => void, stream?: IncomingStream, credit?: (n: number) => void }>()
  let next = 1
  channel.port2.onmessage = event => {
    const m = event.data as NodeMessage
    if (!('id' in m) || m.id === null) return
    const w = waiting.get(m.id)
    if (w === undefined) return
    if (m.t === 'chunk') w.stream?.push(m.bytes)
    else if (m.t === 'end') w.stream?.end()
    else if (m.t === 'credit') w.credit?.(m.n)
    else if (m.t === 'error' && w.stream !== undefined) w.stream.fail(m.error)
    else w.resolve(m)
  }
  host.accept(channel.port1, origin)
  const call = async (method: unknown, params?: unknown, onCredit?: (id: number, n: number) => void): Promise<NodeMessage> => {
    const id = next++
    const answer = new Promise<NodeMessage>(resolve => { waiting.set(id, { resolve, ...(onCredit === undefined ? {} : { credit: (n: number) => { onCredit(id, n) } }) }) })
    channel.port2.postMessage({ t: 'req', id, method, params })
    const m = await answer
    if (m.t === 'head') {
      const w = waiting.get(id)!
      w.stream = new IncomingStream(n => { channel.port2.postMessage({ t: 'credit', id, n }) }, () => { channel.port2.postMessage({ t: 'cancel', id }) }, { implicitWindow: true })
    }
    return m
  }
  const body = async (id: number): Promise<Uint8Array> => {
    const parts: Uint8Array[] = []
    for await (const part of waiting.get(id)!.stream!.stream as unknown as AsyncIterable<Uint8Array>) parts.push(part)
    return new Uint8Array(Buffer.concat(parts))
  }
  return { call, body, port: channel.port2, close: () => { channel.port2.close() } }
}

test('origins: only http(s) and file origins may use the API', () => {
  assert.equal(isUsableOrigin('https://a.example'), true)
  assert.equal(isUsableOrigin('http://127.0.0.1:8080'), true)
  for (const bad of ['null', '', 'https://a.example/', 'chrome-extension://abc', 'data:text/html,x', 42, undefined]) assert.equal(isUsableOrigin(bad), false, String(bad))
})

test('nothing without consent (4100); connect asks once, remembers allow', async () => {
  const { host, asked } = await fixture(['allowed'])
  const p = page(host)
  assert.deepEqual(await p.call('peerloom_stats', {}), { t: 'error', id: 1, error: { code: 4100, message: `${SITE} is not allowed to use Peerloom; call peerloom.connect() first` } })
  assert.deepEqual(await p.call('peerloom_connect', {}), { t: 'result', id: 2, result: { peerId: '16Uiu2HAmTest' } })
  assert.deepEqual(await p.call('peerloom_connect', {}), { t: 'result', id: 3, result: { peerId: '16Uiu2HAmTest' } })
  assert.deepEqual(asked, [SITE])
  const stats = await p.call('peerloom_stats', {})
  assert.equal(stats.t, 'result')
  // another origin is not let in by this one's consent
  const other = page(host, 'https://other.example')
  assert.equal(((await other.call('peerloom_stats', {})) as { error: { code: number } }).error.code, 4100)
  p.close(); other.close()
})

test('deny is remembered (4001, then 4100 for calls); a dismissed prompt is not', async () => {
  const { host, asked } = await fixture(['dismissed', 'denied'])
  const p = page(host)
  assert.equal(((await p.call('peerloom_connect', {})) as { error: { code: number } }).error.code, 4001)
  assert.equal(((await p.call('peerloom_connect', {})) as { error: { code: number } }).error.code, 4001)
  assert.equal(((await p.call('peerloom_connect', {})) as { error: { code: number } }).error.code, 4001)
  assert.equal(asked.length, 2) // dismissed → asked again; denied → remembered
  assert.equal(((await p.call('peerloom_stats', {})) as { error: { code: number } }).error.code, 4100)
  await host.revoke(SITE)
  assert.equal((await host.consent.get(SITE)), undefined)
  p.close()
})

test('fetch: 200 for the whole file, 206 with Content-Range for a range, bytes exact; stats counted', async () => {
  const { host, file, link } = await fixture()
  const p = page(host)
  await p.call('peerloom_connect', {})
  const whole = await p.call('peerloom_fetch', { link })
  assert.equal(whole.t, 'head')
  assert.equal((whole as { status: number }).status, 200)
  assert.deepEqual(await p.body(2), file)
  const part = await p.call('peerloom_fetch', { link, range: 'bytes=70000-200000' })
  assert.deepEqual(part, { t: 'head', id: 3, status: 206, headers: { 'content-type': 'application/octet-stream', 'content-length': '130001', 'accept-ranges': 'bytes', 'content-disposition': "inline; filename*=UTF-8''f.bin", 'content-range': `bytes 70000-200000/${file.length}` } })
  assert.deepEqual(await p.body(3), file.subarray(70000, 200001))
  const bad = await p.call('peerloom_fetch', { link, range: `bytes=${file.length}-` })
  assert.equal((bad as { error: { code: number } }).error.code, 5003)
  const gated = await p.call('peerloom_fetch', { link: link.slice(0, link.indexOf('#')) })
  assert.equal((gated as { error: { code: number } }).error.code, 5011)
  assert.match((gated as { error: { message: string } }).error.message, /^needs at least 1 DevnetPass .* holds 0$/, 'the page learns why')
  const stats = await p.call('peerloom_stats', {}) as { result: { fetches: number, bytesDelivered: number, bytesFromOrigin: number } }
  assert.equal(stats.result.fetches, 2)
  assert.equal(stats.result.bytesDelivered, file.length + 130001)
  assert.equal(stats.result.bytesFromOrigin, file.length + 130001)
  p.close()
})

test('malformed requests are refused with codes', async () => {
  const { host, link } = await fixture()
  const p = page(host)
  await p.call('peerloom_connect', {})
  const code = async (method: unknown, params?: unknown): Promise<number> => ((await p.call(method, params)) as { error: { code: number } }).error.code
  assert.equal(await code('eth_accounts'), 4200)
  assert.equal(await code(42), 4200)
  assert.equal(await code('peerloom_fetch', { link: 7 }), 5000)
  assert.equal(await code('peerloom_fetch', { link, range: 5 }), 5000)
  assert.equal(await code('peerloom_fetch', { link, what: 1 }), 5000)
  assert.equal(await code('peerloom_fetch', { link: 'peerloom://nope' }), 5002)
  assert.equal(await code('peerloom_publish', { name: 'x', mime: 'not a mime', size: 1 }), 5000)
  assert.equal(await code('peerloom_publish', { name: 'x', mime: 'text/plain', size: -1 }), 5000)
  p.close()
})

test('publish: the announced size must match what the page sends', async () => {
  const { host, published } = await fixture()
  const p = page(host)
  await p.call('peerloom_connect', {})
  const data = new Uint8Array(randomBytes(100_000))
  const send = (extra: number) => (id: number, n: number): void => {
    if (n <= 0) return
    const bytes = data.slice().buffer
    p.port.postMessage({ t: 'data', id, bytes }, [bytes])
    if (extra > 0) p.port.postMessage({ t: 'data', id, bytes: new Uint8Array(extra).buffer })
    p.port.postMessage({ t: 'end', id })
  }
  let sent = false
  const ok = await p.call('peerloom_publish', { name: 'a.bin', mime: 'application/octet-stream', size: data.length }, (id, n) => { if (!sent) { sent = true; send(0)(id, n) } })
  assert.equal(ok.t, 'result')
  assert.deepEqual(published[0], data)
  let sentShort = false
  const short = await p.call('peerloom_publish', { name: 'b.bin', mime: 'application/octet-stream', size: data.length + 5 }, (id, n) => { if (!sentShort) { sentShort = true; send(0)(id, n) } })
  assert.equal((short as { error: { code: number } }).error.code, 5000)
  let sentLong = false
  const long = await p.call('peerloom_publish', { name: 'c.bin', mime: 'application/octet-stream', size: data.length }, (id, n) => { if (!sentLong) { sentLong = true; send(9)(id, n) } })
  assert.equal((long as { error: { code: number } }).error.code, 5000)
  const stats = await p.call('peerloom_stats', {}) as { result: { published: number, bytesPublished: number } }
  assert.deepEqual([stats.result.published, stats.result.bytesPublished], [1, data.length])
  p.close()
})

test('player: a token works only for the origin it was issued to, and only while consent lasts', async () => {
  const { host, link, file } = await fixture()
  const p = page(host)
  await p.call('peerloom_connect', {})
  const answer = await p.call('peerloom_player', { link }) as { result: { url: string } }
  const token = new URL(answer.result.url).hash.slice('#t='.length)
  const stream = async (origin: string, range: string | null): Promise<NodeMessage[]> => {
    const channel = new MessageChannel()
    const got: NodeMessage[] = []
    const done = new Promise<void>(resolve => {
      channel.port2.onmessage = event => {
        const m = event.data as NodeMessage
        got.push(m)
        if (m.t === 'head') channel.port2.postMessage({ t: 'credit', id: 0, n: 64 })
        if (m.t === 'end' || m.t === 'error') resolve()
      }
    })
    void host.servePlayerStream(channel.port1, { type: 'peerloom:player-stream', token, origin, range })
    await done
    channel.port2.close()
    return got
  }
  const ok = await stream(SITE, 'bytes=100-199')
  assert.equal(ok[0]?.t, 'head')
  assert.equal((ok[0] as { status: number }).status, 206)
  assert.deepEqual(new Uint8Array((ok[1] as { bytes: ArrayBuffer }).bytes), file.subarray(100, 200))
  const elsewhere = await stream('https://evil.example', null)
  assert.equal((elsewhere[0] as { error: { code: number } }).error.code, 4100)
  await host.revoke(SITE)
  const revoked = await stream(SITE, null)
  assert.equal((revoked[0] as { error: { code: number } }).error.code, 4100)
  p.close()
})

test('a first fetch answered from the cache looks like the network: delayed and reported as from peers', async () => {
  // the pacing goes through a recorded sleep, so what is checked is whether an answer was held back, not how long anything took
  const slept: number[] = []
  const { host, link, file } = await fixture(['allowed', 'allowed'], true, { sleep: async ms => { slept.push(ms); await new Promise(resolve => setTimeout(resolve, ms)) } })
  const p = page(host)
  await p.call('peerloom_connect', {})
  const started = performance.now()
  const first = await p.call('peerloom_fetch', { link })
  assert.equal(first.t, 'head')
  assert.deepEqual(await p.body(2), file)
  assert.ok(performance.now() - started >= 290, `first fetch took ${performance.now() - started} ms`)
  const stats = await p.call('peerloom_stats', {}) as { result: { bytesFromPeers: number, bytesFromOrigin: number } }
  assert.deepEqual([stats.result.bytesFromPeers, stats.result.bytesFromOrigin], [file.length, 0])
  assert.ok(slept.length > 0, 'the first answer from the cache was paced')
  // the same origin again: nothing to hide from it, so nothing is held back
  const pacedBefore = slept.length
  await p.call('peerloom_fetch', { link })
  await p.body(4)
  assert.equal(slept.length, pacedBefore, `the repeat fetch slept ${slept.slice(pacedBefore).join(', ')} ms`)
  p.close()
})

test('player sessions end with the page that opened them', async () => {
  const { host, link } = await fixture()
  const p = page(host)
  await p.call('peerloom_connect', {})
  const answer = await p.call('peerloom_player', { link }) as { result: { url: string } }
  const token = new URL(answer.result.url).hash.slice('#t='.length)
  const first = async (): Promise<NodeMessage> => {
    const channel = new MessageChannel()
    const got = new Promise<NodeMessage>(resolve => { channel.port2.onmessage = event => { resolve(event.data as NodeMessage) } })
    void host.servePlayerStream(channel.port1, { type: 'peerloom:player-stream', token, origin: SITE, range: 'bytes=0-9' })
    const message = await got
    channel.port2.close()
    return message
  }
  assert.equal((await first()).t, 'head')
  p.close() // the page went away; the host notices when the port closes
  let code: number | undefined
  for (const deadline = Date.now() + 10_000; code !== 4100 && Date.now() < deadline;) {
    code = ((await first()) as { error?: { code: number } }).error?.code
    if (code !== 4100) await new Promise(resolve => setTimeout(resolve, 20))
  }
  assert.equal(code, 4100)
})

test('a Deny refuses at once for a quiet time (longer after each Deny), then connect asks again; forgetting the site ends it', async () => {
  let now = 1_000_000
  const { host, asked } = await fixture(['denied', 'denied', 'allowed'], false, { now: () => now })
  const p = page(host)
  const refused = async (params: unknown = {}) => (await p.call('peerloom_connect', params) as unknown as { error: { code: number, message: string, data: { reason: string, retryAfterMs: number } } }).error
  const first = await refused()
  assert.deepEqual([first.code, first.data], [4001, { reason: 'denied', retryAfterMs: 10 * 60_000 }])
  assert.match(first.message, /^you chose Deny; connect\(\) may ask again in 10 min; to allow it sooner, open Peerloom's Options → Sites and choose Allow for https:\/\/site\.example$/)
  now += 5 * 60_000
  const quiet = await refused()
  assert.deepEqual([quiet.code, quiet.data], [4001, { reason: 'denied', retryAfterMs: 5 * 60_000 }])
  assert.match(quiet.message, /^you refused https:\/\/site\.example 5 min ago; connect\(\) may ask again in 5 min/)
  assert.equal((await refused({ prompt: false })).code, 4001)
  assert.equal(((await p.call('peerloom_stats', {})) as { error: { code: number } }).error.code, 4100)
  assert.equal(asked.length, 1, 'no prompt while the refusal stands')
  now += 5 * 60_000
  const again = await refused()
  assert.equal(asked.length, 2, 'the quiet time passed: asked again')
  assert.deepEqual(again.data, { reason: 'denied', retryAfterMs: 60 * 60_000 }, 'a second Deny waits longer')
  assert.equal((await host.consent.get(SITE))?.denials, 2)
  now += 30 * 60_000
  assert.equal((await refused()).data.retryAfterMs, 30 * 60_000)
  // Options → Sites → Forget
  await forgetOrigin((host as unknown as { db: PageApiDb }).db, SITE)
  assert.deepEqual(await p.call('peerloom_connect', {}), { t: 'result', id: 7, result: { peerId: '16Uiu2HAmTest' } })
  assert.equal(asked.length, 3)
  assert.deepEqual(await host.consent.get(SITE), { origin: SITE, decision: 'allowed', at: now })
  p.close()
})

test('three prompts closed unanswered in a row make the site wait; prompt: false never asks', async () => {
  let now = 5_000_000
  const { host, asked } = await fixture(['dismissed', 'dismissed', 'dismissed', 'allowed'], false, { now: () => now })
  const p = page(host)
  const answer = async (params: unknown = {}) => await p.call('peerloom_connect', params) as { t: string, result?: unknown, error?: { code: number, data: unknown } }
  assert.equal((await answer({ prompt: false })).error?.code, 4100)
  assert.equal(asked.length, 0)
  assert.deepEqual((await answer()).error?.data, { reason: 'dismissed', retryAfterMs: 0 })
  assert.deepEqual((await answer()).error?.data, { reason: 'dismissed', retryAfterMs: 0 })
  assert.deepEqual((await answer()).error?.data, { reason: 'dismissed', retryAfterMs: 10 * 60_000 })
  now += 60_000
  assert.deepEqual((await answer()).error?.data, { reason: 'dismissed', retryAfterMs: 9 * 60_000 })
  assert.equal(asked.length, 3)
  now += 9 * 60_000
  assert.deepEqual((await answer()).result, { peerId: '16Uiu2HAmTest' })
  assert.deepEqual((await answer({ prompt: false })).result, { peerId: '16Uiu2HAmTest' })
  assert.equal(asked.length, 4)
  p.close()
})

test('stats add up: peers + origin + cache = bytes read, in all and per content; a first read shows no cache row', async () => {
  const sources: Source[] = ['fromPeers', 'fromOrigin', 'fromCache']
  const { host, file, link, manifestCid } = await fixture(['allowed', 'allowed'], false, { source: chunk => sources[chunk % 3]! })
  const p = page(host)
  await p.call('peerloom_connect', {})
  await p.call('peerloom_fetch', { link })
  await p.body(2)
  const bySource = (start: number, end: number): Record<Source, number> => {
    const out = { fromPeers: 0, fromOrigin: 0, fromCache: 0 }
    for (let at = start; at < end;) {
      const next = Math.min(end, (Math.floor(at / CHUNK) + 1) * CHUNK)
      out[sources[Math.floor(at / CHUNK) % 3]!] += next - at
      at = next
    }
    return out
  }
  const whole = bySource(0, file.length)
  assert.ok(whole.fromCache > 0 && whole.fromPeers > 0 && whole.fromOrigin > 0)
  const stats = async () => ((await p.call('peerloom_stats', {})) as { result: OriginStats }).result
  const first = await stats()
  assert.deepEqual(
    [first.bytesRead, first.bytesFromPeers, first.bytesFromOrigin, first.bytesFromCache, first.bytesDelivered],
    [file.length, whole.fromPeers + whole.fromCache, whole.fromOrigin, 0, file.length],
    'the first read of content: cached bytes count as from peers'
  )
  await p.call('peerloom_fetch', { link, range: 'bytes=70000-200000' })
  await p.body(4)
  const part = bySource(70000, 200001)
  const second = await stats()
  assert.equal(second.bytesFromCache, part.fromCache, 'a repeat read shows its cache row')
  assert.equal(second.bytesRead, second.bytesFromPeers + second.bytesFromOrigin + second.bytesFromCache)
  assert.equal(second.bytesRead, file.length + 130001)
  const rows = ((await p.call('peerloom_contentStats', {})) as { result: ContentStats[] }).result
  assert.equal(rows.length, 1)
  const { lastAt, ...row } = rows[0]!
  assert.ok(lastAt > 0)
  assert.deepEqual(row, { cid: manifestCid.toString(), name: 'f.bin', size: file.length, published: false, fetches: 2, bytesDelivered: second.bytesDelivered, bytesRead: second.bytesRead, bytesFromPeers: second.bytesFromPeers, bytesFromOrigin: second.bytesFromOrigin, bytesFromCache: second.bytesFromCache })
  // another origin sees none of it; forgetting the site forgets its rows
  const other = page(host, 'https://other.example')
  await other.call('peerloom_connect', {})
  assert.deepEqual(((await other.call('peerloom_contentStats', {})) as { result: unknown }).result, [])
  assert.equal(((await other.call('peerloom_stats', {})) as { result: OriginStats }).result.bytesRead, 0)
  await host.revoke(SITE)
  assert.deepEqual(await host.contentStats(SITE), [])
  assert.equal((await host.originStats(SITE)).bytesRead, 0)
  p.close(); other.close()
})

test('contentStats: content the site published is listed as published, with its later reads', async () => {
  const { host, link, manifestCid } = await fixture()
  const p = page(host)
  await p.call('peerloom_connect', {})
  const data = new Uint8Array(randomBytes(1000))
  let sent = false
  const ok = await p.call('peerloom_publish', { name: 'mine.txt', mime: 'text/plain', size: data.length }, (id, n) => {
    if (sent || n <= 0) return
    sent = true
    const bytes = data.slice().buffer
    p.port.postMessage({ t: 'data', id, bytes }, [bytes])
    p.port.postMessage({ t: 'end', id })
  })
  assert.equal(ok.t, 'result')
  let rows = ((await p.call('peerloom_contentStats', {})) as { result: ContentStats[] }).result
  assert.deepEqual(rows.map(r => [r.cid, r.name, r.size, r.published, r.fetches]), [[manifestCid.toString(), 'mine.txt', 1000, true, 0]])
  await p.call('peerloom_fetch', { link })
  await p.body(4)
  rows = ((await p.call('peerloom_contentStats', {})) as { result: ContentStats[] }).result
  assert.deepEqual(rows.map(r => [r.published, r.fetches, r.bytesRead === r.bytesFromPeers + r.bytesFromOrigin + r.bytesFromCache]), [[true, 1, true]])
  p.close()
})
