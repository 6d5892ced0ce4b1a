/**
 * `npm run bench:stream -w e2e`: what a site sees through `window.peerloom`, in one run on a
 * loopback devnet (relay + origin processes, Chromium profiles with the built extension).
 *
 *  1. five viewers in turn (each donating once it has the content) read the same file through
 *     the page API: the share of bytes that came from peers rather than the origin, over
 *     several rounds (fresh viewers and a fresh file each round);
 *  2. video through `peerloom.player`: time to first frame, and seek latency;
 *  3. full-fetch throughput from a peer as the page sees it vs the node path (the node reading
 *     the same content from the same peer, chunks opened, as bench:transfer's path 2), alternated,
 *     with the viewer's cache cleared before each run and no origin to fall back on;
 *  4. warm time to first byte of a 1 MiB range.
 *
 * Prints the results table and appends the run to bench/results/stream.json.
 *
 *   node --import tsx bench/stream.bench.ts [--runs 5] [--size-mib 32] [--viewer-mib 16] [--rounds 3]
 */
import { rm } from 'node:fs/promises'
import { cpus, loadavg } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import type { Page } from 'playwright-core'
import buildExtension from '../src/global-setup.ts'
import { startDevnet } from '../src/devnet.ts'
import { Profile } from '../src/profile.ts'
import { DEMO_VIDEO, connectAnswering, openSite, publishFile, publishRandom, startSite } from '../src/page-api.ts'
import { appendRun } from '../../shared/bench/results-log.ts'
import { median } from './median.ts'
import { spread, streamTable } from './results-table.ts'
import type { StreamRun } from './results-table.ts'

const { values: args } = parseArgs({ options: { runs: { type: 'string', default: '5' }, 'size-mib': { type: 'string', default: '32' }, 'viewer-mib': { type: 'string', default: '16' }, rounds: { type: 'string', default: '3' } } })
const RUNS = Math.max(5, Number(args.runs))
const SIZE = Number(args['size-mib']) * 1024 * 1024
const VIEWER_SIZE = Number(args['viewer-mib']) * 1024 * 1024
/** Rounds of five viewers, each round on a file of its own. @default 3 */
const ROUNDS = Math.max(1, Number(args.rounds))
const MB = 1e6

const say = (line: string): void => { process.stdout.write(`${line}\n`) }
const fmt = (values: number[], digits = 1): string => `${median(values).toFixed(digits)} (${Math.min(...values).toFixed(digits)}–${Math.max(...values).toFixed(digits)})`

/** Reads a link to the end in the page, hashing it (as the node path hashes); ms and SHA-256. */
async function pageFullFetch (page: Page, link: string): Promise<{ ms: number, sha256: string, bytes: number }> {
  return await page.evaluate(async link => {
    const started = performance.now()
    const response = await window.peerloom!.fetch(link)
    const bytes = await response.arrayBuffer()
    const digest = await crypto.subtle.digest('SHA-256', bytes)
    const ms = performance.now() - started
    return { ms, bytes: bytes.byteLength, sha256: [...new Uint8Array(digest)].map(b => b.toString(16).padStart(2, '0')).join('') }
  }, link)
}

/** Waits until the relay's routing API lists `peerId` as a provider of `cid`. */
async function waitProvider (http: string, cid: string, peerId: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    const response = await fetch(`${http}/routing/v1/providers/${cid}`).catch(() => undefined)
    if (response?.ok === true && (await response.text()).includes(peerId)) return
    await new Promise(resolve => setTimeout(resolve, 250))
  }
  throw new Error(`${peerId} was not listed as a provider of ${cid} within ${timeoutMs} ms`)
}

async function launch (name: string, settings: Record<string, unknown>): Promise<Profile> {
  // the first launch after a build sometimes misses the service worker's start; one retry
  const profile = await Profile.launch(name).catch(async (err: Error) => {
    say(`  ${name}: ${err.message.split('\n')[0]}; launching again`)
    return await Profile.launch(name)
  })
  await profile.configure({ ...settings, uploadRateBytesPerSec: 256 * 1024 * 1024 })
  return profile
}

buildExtension() // rebuilds .output/chrome-mv3 when its sources changed
const startedAt = new Date()
const loadBefore = loadavg()[0]!
const devnet = await startDevnet()
const profiles: Profile[] = []
let figures: Omit<StreamRun, 'date' | 'commit' | 'dirty' | 'loadAverage'> | undefined
try {
  say('bench:stream: publishing…')
  const files = []
  for (let r = 0; r < ROUNDS; r++) files.push(await publishRandom(devnet, VIEWER_SIZE, `viewers-${r + 1}.bin`))
  const big = await publishRandom(devnet, SIZE, 'throughput.bin')
  const video = await publishFile(devnet, DEMO_VIDEO, 'video/webm', 'Demo video')
  const site = await startSite(devnet, [...files, big, video])

  // 1. five viewers in turn, in rounds: fresh profiles and a file of its own each round
  say(`bench:stream: five viewers in turn, ${ROUNDS} round(s)…`)
  const rounds: Array<Array<{ fromPeers: number, fromOrigin: number, ms: number }>> = []
  let kept: Profile[] = []
  for (const [r, shared] of files.entries()) {
    const viewers: Array<{ fromPeers: number, fromOrigin: number, ms: number }> = []
    const round: Profile[] = []
    for (let i = 0; i < 5; i++) {
      const viewer = await launch(`viewer${r + 1}-${i + 1}`, { ...devnet.settings(), donate: true })
      profiles.push(viewer)
      round.push(viewer)
      await viewer.waitReachable()
      const page = await openSite(viewer, site.url)
      if ((await connectAnswering(viewer, page, 'allow')).peerId === undefined) throw new Error('consent failed')
      const got = await pageFullFetch(page, shared.link)
      if (got.sha256 !== shared.sha256) throw new Error(`viewer ${i + 1} read wrong bytes`)
      const stats = await page.evaluate(async () => await window.peerloom!.stats())
      viewers.push({ fromPeers: stats.bytesFromPeers, fromOrigin: stats.bytesFromOrigin, ms: got.ms })
      say(`  round ${r + 1}, viewer ${i + 1}: ${(stats.bytesFromPeers / MB).toFixed(1)} MB from peers, ${(stats.bytesFromOrigin / MB).toFixed(1)} MB from the origin, ${(got.ms / 1000).toFixed(2)} s`)
      if (i < 4) await waitProvider(devnet.relay.http, shared.manifest, (await viewer.status()).peerId as string) // the next viewer can find it
    }
    rounds.push(viewers)
    // later parts need two browsers only: the last round's first two viewers
    for (const done of r < files.length - 1 ? round : round.slice(2)) await done.close()
    kept = round.slice(0, 2)
  }
  const sum = (list: Array<{ fromPeers: number, fromOrigin: number }>, key: 'fromPeers' | 'fromOrigin'): number => list.reduce((n, v) => n + v[key], 0)
  const shareOf = (list: Array<{ fromPeers: number, fromOrigin: number }>): number => sum(list, 'fromPeers') / (sum(list, 'fromPeers') + sum(list, 'fromOrigin'))
  const share = shareOf(rounds.flat())
  const [a, b] = kept as [Profile, Profile]
  const bPage = await openSite(b, site.url)

  // 2. video
  say('bench:stream: video…')
  const firstFrames: number[] = []
  const seeks: number[] = []
  for (let i = 0; i < RUNS; i++) {
    const ms = await bPage.evaluate(async link => {
      document.querySelector('#player')!.replaceChildren()
      const started = performance.now()
      const element = await window.peerloom!.player(link, { autoplay: true, muted: true, controls: true })
      const first = new Promise<number>((resolve, reject) => {
        const timer = setTimeout(() => { reject(new Error('no first frame within 15 s')) }, 15_000)
        const listening = new AbortController()
        window.addEventListener('message', event => {
          if (event.source !== (element as HTMLIFrameElement).contentWindow || event.data?.peerloom !== 'player') return
          if (event.data.type === 'error') reject(new Error('the player reported an error'))
          if (event.data.type !== 'firstframe') return
          clearTimeout(timer)
          listening.abort()
          resolve(performance.now() - started)
        }, { signal: listening.signal })
      })
      document.querySelector('#player')!.append(element)
      return await first
    }, video.link)
    firstFrames.push(ms)
    const frame = bPage.frames().find(f => f.url().includes('/player.html'))
    if (frame === undefined) throw new Error('no player frame')
    for (let s = 0; s < 2; s++) {
      const to = 1 + ((i * 2 + s) * 7.3) % 17 // spread over the 20 s video
      seeks.push(await frame.evaluate(async to => {
        const v = document.querySelector('video')!
        const started = performance.now()
        await new Promise<void>(resolve => {
          v.addEventListener('seeked', () => { v.requestVideoFrameCallback(() => { resolve() }) }, { once: true })
          v.currentTime = to
        })
        return performance.now() - started
      }, to))
    }
  }
  say(`  first frame ${fmt(firstFrames, 0)} ms, seek ${fmt(seeks, 0)} ms`)

  // 3. throughput: A has the file; B, without an origin to fall back on, reads it from A both ways
  say('bench:stream: throughput from a peer, page vs node path…')
  const seeded = await a.fetchAll(big.link, 300_000)
  if (seeded.sha256 !== big.sha256) throw new Error('A could not read the file')
  await waitProvider(devnet.relay.http, big.manifest, (await a.status()).peerId as string)
  await b.configure({ gateways: [] }) // B may now read only from peers (A); the origin stays up for routing
  const nodeRates: number[] = []
  const pageRates: number[] = []
  await bPage.evaluate(async () => await window.peerloom!.connect()) // allowed as a viewer: no prompt
  const failures: string[] = []
  for (let i = 0; i < RUNS; i++) {
    for (const path of i % 2 === 0 ? ['node', 'page'] : ['page', 'node']) {
      // a run that cannot reach A (a failed WebRTC dial) is reported and run again, up to 3 times
      for (let attempt = 1; ; attempt++) {
        await b.call('clearCache')
        try {
          if (path === 'node') {
            const t = await b.fetchAll(big.link, 300_000)
            if (t.sha256 !== big.sha256 || (t.stats?.fromPeers ?? 0) < SIZE) throw new Error(`${JSON.stringify(t.error ?? t.stats).slice(0, 300)}`)
            nodeRates.push(SIZE / MB / (((t.finishedAt as number) - t.startedAt) / 1000))
          } else {
            const t = await pageFullFetch(bPage, big.link)
            if (t.sha256 !== big.sha256) throw new Error('wrong bytes')
            pageRates.push(SIZE / MB / (t.ms / 1000))
          }
          break
        } catch (err) {
          failures.push(`${path} run ${i + 1}: ${(err as Error).message.split('\n')[0]}`)
          say(`  ${failures.at(-1)}`)
          if (attempt === 3) throw err
        }
      }
    }
  }
  const ratio = median(pageRates) / median(nodeRates)
  say(`  node path ${fmt(nodeRates)} MB/s, page ${fmt(pageRates)} MB/s, ratio ${ratio.toFixed(2)}`)

  // 4. warm TTFB of a 1 MiB range (B has the file cached from the last run and has fetched it before)
  await pageFullFetch(bPage, big.link)
  const ttfb = await bPage.evaluate(async ({ link, size, runs }) => {
    const out: number[] = []
    for (let i = 0; i < runs; i++) {
      const start = Math.floor(((i * 0.618) % 1) * (size - 1048576))
      const started = performance.now()
      const response = await window.peerloom!.fetch(link, { headers: { Range: `bytes=${start}-${start + 1048575}` } })
      const reader = response.body!.getReader()
      await reader.read()
      out.push(performance.now() - started)
      await reader.cancel()
    }
    return out
  }, { link: big.link, size: SIZE, runs: Math.max(11, RUNS) })
  say(`  warm 1 MiB range, first byte ${fmt(ttfb)} ms`)

  figures = {
    runs: RUNS,
    sizeMiB: SIZE / 1024 / 1024,
    viewerMiB: VIEWER_SIZE / 1024 / 1024,
    cores: cpus().length,
    pageMBps: spread(pageRates),
    nodeMBps: spread(nodeRates),
    ratio,
    failedRuns: failures.length,
    warmFirstByteMs: spread(ttfb),
    firstFrameMs: { ...spread(firstFrames), coldMs: firstFrames[0]! },
    seekMs: spread(seeks),
    fromPeers: { share, rounds: rounds.map(shareOf), viewers: rounds.map(round => round.map(v => 100 * v.fromPeers / (v.fromPeers + v.fromOrigin))) }
  }
  await site.stop()
} finally {
  for (const profile of profiles) await profile.close().catch(() => {})
  for (const profile of profiles) await rm(profile.userDataDir, { recursive: true, force: true }).catch(() => {})
  await devnet.stop()
}

if (figures === undefined) throw new Error('bench:stream ended without figures')
const entry: StreamRun = await appendRun(join(import.meta.dirname, 'results', 'stream.json'), startedAt, {
  ...figures,
  loadAverage: { before: loadBefore.toFixed(1), after: loadavg()[0]!.toFixed(1) }
})
say(`\n${streamTable(entry)}\n\nappended to bench/results/stream.json`)
process.exit(0) // Playwright and child-process handles would otherwise keep the process alive
