/**
 * The page API (`window.peerloom`) with real Chromium, the built extension and a real relay and
 * origin: consent, fetch with ranges, validation under a flood of malformed calls, the player,
 * publishing across profiles, the demo site after a refusal (hint, stats, offload, copy), and
 * the SDK without the extension.
 */
import { chromium } from 'playwright-core'
import type { Frame, Page } from 'playwright-core'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { randomBytes } from 'node:crypto'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { expect, test } from '../src/fixtures.ts'
import { CHROMIUM } from '../src/profile.ts'
import { DEMO_VIDEO, answerPrompt, connectAnswering, openSite, publishFile, publishRandom, sha256, startSite } from '../src/page-api.ts'
import type { PageError } from '../src/page-api.ts'

/** Calls a provider method in the page and returns its result or its coded error. */
async function pageCall (page: Page, method: 'stats' | 'connect'): Promise<{ result?: unknown, error?: PageError }> {
  return await page.evaluate(async m => {
    try {
      return { result: await window.peerloom![m]() }
    } catch (err) {
      const e = err as { code?: number, message: string, data?: Record<string, unknown> }
      return { error: { code: e.code, message: e.message, data: e.data } }
    }
  }, method)
}

test('consent: allow, deny, revoke in Options; an origin without consent gets 4100', async ({ devnet, launch }) => {
  const content = await publishRandom(devnet, 300_000)
  const site = await startSite(devnet, [content])
  const other = await startSite(devnet, [content])
  const a = await launch('a')
  try {
    const page = await openSite(a, site.url)
    // nothing works before consent
    expect((await pageCall(page, 'stats')).error?.code).toBe(4100)
    const unconsentedFetch = await page.evaluate(async link => await window.peerloom!.fetch(link).then(() => 0, (e: { code: number }) => e.code), content.link)
    expect(unconsentedFetch).toBe(4100)

    // a closed prompt refuses without remembering; Allow lets the site in
    expect((await connectAnswering(a, page, 'close')).error?.code).toBe(4001)
    const allowed = await connectAnswering(a, page, 'allow')
    expect(allowed.peerId).toBe((await a.status()).peerId)
    expect((await pageCall(page, 'stats')).result).toMatchObject({ origin: new URL(site.url).origin, fetches: 0 })
    // remembered, in storage rather than the service worker: with the worker stopped, a reload connects without a prompt
    const workerBefore = await a.workerStartedAt()
    await a.stopServiceWorker()
    await page.reload()
    await page.waitForFunction(() => window.peerloom?.isPeerloom === true)
    expect((await pageCall(page, 'connect')).result).toEqual({ peerId: allowed.peerId })
    expect(await a.workerStartedAt()).not.toBe(workerBefore) // the bridge woke a new worker

    // another origin is still refused, and its refusal is remembered
    const otherPage = await openSite(a, other.url)
    expect((await pageCall(otherPage, 'stats')).error?.code).toBe(4100)
    expect((await connectAnswering(a, otherPage, 'deny')).error?.code).toBe(4001)
    expect((await pageCall(otherPage, 'connect')).error?.code).toBe(4001)
    expect((await pageCall(otherPage, 'stats')).error?.code).toBe(4100)

    // Options lists both; revoking the allowed one shuts it out at once
    const options = await a.context.newPage()
    await options.goto(`chrome-extension://${a.extensionId}/options.html`)
    const siteRow = options.locator(`[data-site-origin="${new URL(site.url).origin}"]`)
    await expect(siteRow).toContainText('allowed')
    await expect(options.locator(`[data-site-origin="${new URL(other.url).origin}"]`)).toContainText('denied')
    await siteRow.locator('button').click()
    await expect(siteRow).toHaveCount(0)
    expect((await pageCall(page, 'stats')).error?.code).toBe(4100)
    // and it has to ask again
    expect((await connectAnswering(a, page, 'allow')).peerId).toBe(allowed.peerId)
  } finally {
    await site.stop()
    await other.stop()
  }
})

test('demo site: a Deny reads "refused" with a hint, not "no extension"; Connect again is refused at once; Forget in Options, then Allow works; stats add up; the link copies', async ({ devnet, launch }) => {
  const content = await publishRandom(devnet, 2 * 1024 * 1024 + 4321)
  const site = await startSite(devnet, [content])
  const origin = new URL(site.url).origin
  const a = await launch('a')
  try {
    const page = await openSite(a, site.url)
    const mode = page.locator('#mode')
    const hint = page.locator('#hint')
    const connect = page.locator('#connect')
    await expect(mode).toHaveAttribute('data-state', 'not-connected')

    // Deny from the demo site's own button
    const denied = answerPrompt(a, origin, 'deny')
    await connect.click()
    await denied
    await expect(mode).toHaveAttribute('data-state', 'refused')
    await expect(mode).toContainText('refused')
    await expect(mode).not.toContainText('No extension')
    await expect(hint).toBeVisible()
    await expect(hint).toHaveAttribute('data-reason', 'denied')
    await expect(hint).toContainText('installed, but this site is not allowed')
    await expect(hint).toContainText('find this site under “Sites” and choose Allow')
    await expect(connect).toBeVisible()

    // a second Connect opens no prompt: the refusal stands for a while, and the page says for how long
    const prompts: string[] = []
    const onPage = (p: Page): void => { if (p.url().includes('/prompt.html')) prompts.push(p.url()) }
    a.context.on('page', onPage)
    await connect.click()
    await expect(hint).toContainText(`Peerloom said: you refused ${origin} just now; connect() may ask again in 10 min`)
    await expect(hint).toContainText('can ask you again in about 10 min')
    const again = await pageCall(page, 'connect')
    expect(again.error?.code).toBe(4001)
    expect(again.error?.data).toMatchObject({ reason: 'denied' })
    expect(again.error?.data?.retryAfterMs).toBeGreaterThan(9 * 60_000)
    a.context.off('page', onPage)
    expect(prompts).toEqual([])

    // a reload remembers it without a prompt
    await page.reload()
    await page.waitForFunction(() => document.documentElement.dataset.ready === 'true')
    await expect(mode).toHaveAttribute('data-state', 'refused')
    await expect(hint).toBeVisible()

    // Options → Sites → Forget, then Connect asks again and Allow lets the site in
    const options = await a.context.newPage()
    await options.goto(`chrome-extension://${a.extensionId}/options.html`)
    const siteRow = options.locator(`[data-site-origin="${origin}"]`)
    await expect(siteRow).toContainText('denied')
    await siteRow.getByRole('button', { name: 'Forget' }).click()
    await expect(siteRow).toHaveCount(0)
    await options.close()
    await page.bringToFront()
    const allowed = answerPrompt(a, origin, 'allow')
    await connect.click()
    await allowed
    await expect(mode).toHaveAttribute('data-state', 'connected')
    await expect(mode).toContainText('Connected to Peerloom')
    await expect(hint).toBeHidden()
    await expect(connect).toBeHidden()

    // read twice: the first from the origin, the repeat from the cache; the rows add up
    const row = page.locator(`tr[data-link="${content.link}"]`)
    for (let i = 0; i < 2; i++) {
      await row.getByRole('button', { name: 'Fetch & verify' }).click()
      await expect(row.locator('td.result')).toContainText('verified', { timeout: 60_000 })
      await expect(row.locator('td.result')).toContainText('via extension')
      await expect(row.getByRole('button', { name: 'Fetch & verify' })).toBeEnabled()
    }
    const stats = (await pageCall(page, 'stats')).result as { fetches: number, bytesRead: number, bytesFromPeers: number, bytesFromOrigin: number, bytesFromCache: number, bytesDelivered: number }
    expect(stats.fetches).toBe(2)
    expect(stats.bytesDelivered).toBe(2 * content.size)
    expect(stats.bytesFromPeers + stats.bytesFromOrigin + stats.bytesFromCache).toBe(stats.bytesRead)
    expect(stats.bytesFromOrigin).toBeGreaterThanOrEqual(content.size)
    expect(stats.bytesFromCache).toBeGreaterThanOrEqual(content.size)
    const shown = page.locator('#stats')
    await expect(shown).toHaveAttribute('data-bytes-read', String(stats.bytesRead))
    await expect(shown).toContainText('from the cache')
    const rows = await page.evaluate(async () => await window.peerloom!.contentStats())
    expect(rows).toHaveLength(1)
    expect(rows[0]).toMatchObject({ cid: content.manifest, fetches: 2, bytesRead: stats.bytesRead, bytesFromPeers: stats.bytesFromPeers, bytesFromOrigin: stats.bytesFromOrigin, bytesFromCache: stats.bytesFromCache, published: false })
    await expect(page.locator(`#offload-table tr[data-cid="${content.manifest}"]`)).toContainText('2')

    // publish through the form: progress in MiB and percent, then a link that copies
    await a.context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin })
    await page.evaluate(() => {
      const seen: string[] = []
      ;(window as unknown as { progressSeen: string[] }).progressSeen = seen
      new MutationObserver(() => { seen.push(document.getElementById('published')!.textContent ?? '') }).observe(document.getElementById('published')!, { childList: true, characterData: true, subtree: true })
    })
    const file = join(devnet.dir, 'to-copy.bin')
    const bytes = randomBytes(12 * 1024 * 1024 + 5)
    await writeFile(file, bytes)
    await page.setInputFiles('#file', file)
    await page.click('#publish')
    await expect(page.locator('#published')).toContainText('Published', { timeout: 60_000 })
    const progress = await page.evaluate(() => (window as unknown as { progressSeen: string[] }).progressSeen)
    expect(progress.some(text => /^\d+\.\d MiB of 12\.0 MiB \(\d+ %\)/.test(text)), progress.join('\n')).toBe(true)
    const link = (await page.locator('#published-link').textContent())!
    expect(link).toMatch(/^peerloom:\/\/b[a-z2-7]+#k=[\w-]{43}$/)
    const copyButton = page.locator('#copy-link')
    await copyButton.click()
    await expect(copyButton).toHaveText('Copied')
    expect(await page.evaluate(async () => await navigator.clipboard.readText())).toBe(link)
    await expect(copyButton).toHaveText('Copy link', { timeout: 30_000 })
    await expect(page.locator('#offload-table')).toContainText('to-copy.bin (published here)')
  } finally {
    await site.stop()
  }
})

/** A deterministic pseudo-random generator (mulberry32), so a failing case can be replayed. */
function prng (seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed)
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** Fetches `link` with each Range header in the page; SHA-256, status and headers of each answer. */
async function fetchRanges (page: Page, link: string, ranges: Array<string | null>): Promise<Array<{ status: number, length: number, sha256: string, contentRange: string | null, contentLength: string | null, type: string | null }>> {
  return await page.evaluate(async ({ link, ranges }) => {
    const out = []
    for (const range of ranges) {
      const response = await window.peerloom!.fetch(link, range === null ? undefined : { headers: { Range: range } })
      const bytes = await response.arrayBuffer()
      const digest = [...new Uint8Array(await crypto.subtle.digest('SHA-256', bytes))].map(b => b.toString(16).padStart(2, '0')).join('')
      out.push({ status: response.status, length: bytes.byteLength, sha256: digest, contentRange: response.headers.get('content-range'), contentLength: response.headers.get('content-length'), type: response.headers.get('content-type') })
    }
    return out
  }, { link, ranges })
}

test('fetch: the whole content and 50 random ranges, byte for byte; the demo site verifies through the extension', async ({ devnet, launch }) => {
  const content = await publishRandom(devnet, 6 * 1024 * 1024 + 12345)
  const site = await startSite(devnet, [content])
  const a = await launch('a')
  try {
    const page = await openSite(a, site.url)
    expect((await connectAnswering(a, page, 'allow')).peerId).toBeDefined()

    const [whole] = await fetchRanges(page, content.link, [null])
    expect(whole).toMatchObject({ status: 200, length: content.size, sha256: content.sha256, contentRange: null, contentLength: String(content.size), type: 'application/octet-stream' })

    const random = prng(5)
    const size = content.size
    const ranges: Array<{ header: string, start: number, end: number }> = []
    for (let i = 0; i < 50; i++) {
      const start = Math.floor(random() * size)
      const kind = i % 5
      if (kind === 0) ranges.push({ header: `bytes=${start}-`, start, end: size })
      else if (kind === 1) { const n = 1 + Math.floor(random() * 3 * 1024 * 1024); ranges.push({ header: `bytes=-${n}`, start: Math.max(0, size - n), end: size }) }
      else if (kind === 2) ranges.push({ header: `bytes=${start}-${start}`, start, end: start + 1 })
      else { const last = Math.min(size - 1, start + Math.floor(random() * 2 * 1024 * 1024)); ranges.push({ header: `bytes=${start}-${last}`, start, end: last + 1 }) }
    }
    const answers = await fetchRanges(page, content.link, ranges.map(r => r.header))
    answers.forEach((answer, i) => {
      const { header, start, end } = ranges[i]!
      expect(answer, header).toEqual({
        status: 206,
        length: end - start,
        sha256: sha256(content.bytes.subarray(start, end)),
        contentRange: `bytes ${start}-${end - 1}/${size}`,
        contentLength: String(end - start),
        type: 'application/octet-stream'
      })
    })
    const stats = (await pageCall(page, 'stats')).result as { fetches: number, bytesDelivered: number, bytesFromOrigin: number }
    expect(stats.fetches).toBe(51)
    expect(stats.bytesDelivered).toBe(size + ranges.reduce((sum, r) => sum + r.end - r.start, 0))
    expect(stats.bytesFromOrigin).toBeGreaterThanOrEqual(size) // the first fetch came from the origin

    // the demo site, through the SDK: once the site is allowed, "Fetch & verify" goes through the extension
    await page.reload()
    await page.waitForFunction(() => document.documentElement.dataset.ready === 'true')
    await expect(page.locator('#mode')).toHaveAttribute('data-mode', 'extension')
    const row = page.locator(`tr[data-link="${content.link}"]`)
    await row.getByRole('button', { name: 'Fetch & verify' }).click()
    await expect(row.locator('td.result')).toContainText('verified', { timeout: 60_000 })
    await expect(row.locator('td.result')).toContainText('via extension')
  } finally {
    await site.stop()
  }
})

test('validation: 200+ malformed calls are all refused with codes; the node stays responsive', async ({ devnet, launch }) => {
  const content = await publishRandom(devnet, 700_000)
  const site = await startSite(devnet, [content])
  const a = await launch('a')
  try {
    const page = await openSite(a, site.url)
    expect((await connectAnswering(a, page, 'allow')).peerId).toBeDefined()
    const cid = content.link.slice('peerloom://'.length, content.link.indexOf('#'))
    const key = content.link.slice(content.link.indexOf('#k=') + 3)
    const random = prng(42)
    const junk = (): unknown => [null, 0, -1, 1e308, 'x'.repeat(600 + Math.floor(random() * 700)), true, [], [1, 2], {}, { a: 1 }][Math.floor(random() * 10)]
    const cases: Array<{ request: unknown, code: number }> = []
    for (let i = 0; cases.length < 240; i++) {
      switch (i % 12) {
        case 0: cases.push({ request: { method: `peerloom_${Math.floor(random() * 1e6)}`, params: {} }, code: 4200 }); break
        case 1: cases.push({ request: { method: junk(), params: {} }, code: 4200 }); break
        case 2: cases.push({ request: { method: 'peerloom_fetch', params: { link: junk() } }, code: 5000 }); break
        case 3: cases.push({ request: { method: 'peerloom_fetch', params: { link: `peerloom://${cid.slice(0, 5 + Math.floor(random() * 40))}#k=${key}` } }, code: 5002 }); break
        case 4: cases.push({ request: { method: 'peerloom_fetch', params: { link: `peerloom://${cid}#k=${key.slice(0, Math.floor(random() * 42))}` } }, code: 5002 }); break
        case 5: cases.push({ request: { method: 'peerloom_fetch', params: { link: `https://${cid}` } }, code: 5002 }); break
        case 6: cases.push({ request: { method: 'peerloom_fetch', params: { link: content.link, range: [`bytes=${content.size + Math.floor(random() * 1e6)}-`, 'bytes=9-2', 'bytes=0-1,4-5', 'items=0-1', 'bytes=-0', 'bytes=abc'][i % 6] } }, code: 5003 }); break
        case 7: cases.push({ request: { method: 'peerloom_fetch', params: { link: content.link, range: junk() } }, code: 5000 }); break
        case 8: cases.push({ request: { method: 'peerloom_fetch', params: { link: content.link, extra: junk() } }, code: 5000 }); break
        case 9: cases.push({ request: { method: ['peerloom_stats', 'peerloom_connect'][i % 2], params: { x: junk() } }, code: 5000 }); break
        case 10: cases.push({ request: { method: 'peerloom_player', params: { link: `peerloom://${cid}` } }, code: 5011 }); break // gated: no key
        case 11: cases.push({ request: { method: 'peerloom_fetch', params: junk() }, code: 5000 }); break
      }
    }
    const answers = await page.evaluate(async requests => {
      const out: Array<{ resolved?: boolean, code?: number, message?: string }> = []
      for (const request of requests) {
        try {
          await window.peerloom!.request(request as { method: string, params?: unknown })
          out.push({ resolved: true })
        } catch (err) {
          const e = err as { code?: number, message?: string }
          out.push({ code: e.code, message: e.message })
        }
      }
      // a few the main world refuses before anything is sent
      for (const request of [null, 'peerloom_stats', { method: 'peerloom_fetch', params: { link: () => 1 } }, { method: 'peerloom_publish', params: {} }]) {
        try {
          await window.peerloom!.request(request as never)
          out.push({ resolved: true })
        } catch (err) {
          out.push({ code: (err as { code?: number }).code })
        }
      }
      return out
    }, cases.map(c => c.request))
    const expected = [...cases.map(c => c.code), 5000, 5000, 5000, 4200]
    expect(answers.length).toBe(expected.length)
    let limited = 0
    answers.forEach((answer, i) => {
      expect(answer.resolved, JSON.stringify(cases[i]?.request)?.slice(0, 200)).toBeUndefined()
      if (answer.code === 5005) limited++
      else expect(answer.code, `${JSON.stringify(cases[i]?.request)?.slice(0, 200)}: ${answer.message}`).toBe(expected[i])
    })
    expect(limited).toBeLessThan(answers.length / 4)

    // raw messages on a port of the page's own making: the node answers each with a coded error
    const raw = await page.evaluate(async () => {
      const channel = new MessageChannel()
      const replies: Array<{ t: string, id: number | null, error?: { code: number } }> = []
      // a well-formed request sent after the junk: the port keeps order, so once its answer is in, every answer to the junk is too
      const SENTINEL = 1_000_000
      let sentinelAnswered = (): void => {}
      const answered = new Promise<void>(resolve => { sentinelAnswered = resolve })
      const ready = new Promise<void>(resolve => {
        channel.port1.onmessage = event => {
          if (event.data?.t === 'ready') resolve()
          else if (event.data?.id === SENTINEL) sentinelAnswered()
          else replies.push(event.data)
        }
      })
      window.postMessage({ peerloom: 'peerloom:open-bridge' }, '*', [channel.port2])
      await ready
      const junk: unknown[] = [null, 7, 'hello', [], {}, { t: 'req' }, { t: 'req', id: -1, method: 'peerloom_stats' }, { t: 'req', id: 1.5, method: 'peerloom_stats' },
        { t: 'credit', id: 1, n: 1e9 }, { t: 'credit', id: 1, n: 0 }, { t: 'data', id: 1, bytes: 'abc' }, { t: 'data', id: 1, bytes: new ArrayBuffer(0) },
        { t: 'nope', id: 1 }, { t: 'req', id: 2, method: 'peerloom_stats', extra: 1 }, { t: 'end' }, { t: 'cancel', id: '1' }]
      for (const message of junk) channel.port1.postMessage(message)
      channel.port1.postMessage({ t: 'req', id: SENTINEL, method: 'peerloom_stats' })
      await answered
      return { sent: junk.length, replies }
    })
    expect(raw.replies).toHaveLength(raw.sent)
    for (const reply of raw.replies) expect(reply).toMatchObject({ t: 'error', error: { code: 5000 } })

    // a flood: the origin is rate-limited, with a code, and recovers
    const flood = await page.evaluate(async () => {
      const results = await Promise.allSettled(Array.from({ length: 400 }, async () => await window.peerloom!.stats()))
      return results.map(r => r.status === 'fulfilled' ? 0 : (r.reason as { code: number }).code)
    })
    expect(flood.filter(code => code === 5005).length).toBeGreaterThan(0)
    expect(flood.every(code => code === 0 || code === 5005)).toBe(true)
    // the origin's bucket refills: the whole content reads again once it has (the last error is shown if never)
    await expect.poll(async () => await fetchRanges(page, content.link, [null]).then(([after]) => after, (err: Error) => err.message), { timeout: 60_000 })
      .toMatchObject({ status: 200, length: content.size, sha256: content.sha256 })
  } finally {
    await site.stop()
  }
})

test('player: the video plays, seeks to the middle and keeps playing', async ({ devnet, launch }) => {
  const video = await publishFile(devnet, DEMO_VIDEO, 'video/webm', 'Demo video')
  const site = await startSite(devnet, [video])
  const a = await launch('a')
  try {
    const page = await openSite(a, site.url)
    expect((await connectAnswering(a, page, 'allow')).peerId).toBeDefined()
    await page.reload()
    await page.waitForFunction(() => document.documentElement.dataset.ready === 'true')
    await page.locator(`tr[data-link="${video.link}"]`).getByRole('button', { name: 'Play' }).click()
    await expect(page.locator('#player iframe[data-peerloom-player]')).toHaveCount(1)
    const playerFrame = (): Frame | undefined => page.frames().find(f => f.url().includes('/player.html'))
    await expect.poll(() => playerFrame() !== undefined, { timeout: 60_000 }).toBe(true)
    const frame = playerFrame()!
    const state = async (): Promise<{ time: number, paused: boolean, duration: number, error: string | null, ready: number }> => await frame.evaluate(() => {
      const v = document.querySelector('video')!
      return { time: v.currentTime, paused: v.paused, duration: v.duration, error: v.error?.message ?? (v.error === null ? null : String(v.error.code)), ready: v.readyState }
    })
    await expect.poll(async () => (await state()).time, { timeout: 60_000 }).toBeGreaterThan(1)
    const playing = await state()
    expect(playing.error).toBeNull()
    expect(playing.duration).toBeGreaterThan(19)
    expect(playing.duration).toBeLessThan(21)

    const middle = playing.duration / 2
    await frame.evaluate(async to => {
      const v = document.querySelector('video')!
      await new Promise<void>(resolve => { v.addEventListener('seeked', () => { resolve() }, { once: true }); v.currentTime = to })
    }, middle)
    await expect.poll(async () => (await state()).time, { timeout: 60_000 }).toBeGreaterThan(middle + 1.5)
    const after = await state()
    expect(after.paused).toBe(false)
    expect(after.error).toBeNull()
    expect(after.time).toBeLessThan(middle + 10) // it kept playing from the middle, not from the start
  } finally {
    await site.stop()
  }
})

test('publish in profile A, fetch the same link in profile B (from A, over WebRTC)', async ({ devnet, launch }) => {
  const site = await startSite(devnet, [])
  const a = await launch('a', { donate: true })
  const b = await launch('b')
  try {
    await a.waitReachable()
    const aPage = await openSite(a, site.url)
    expect((await connectAnswering(a, aPage, 'allow')).peerId).toBeDefined()
    await aPage.reload()
    await aPage.waitForFunction(() => document.documentElement.dataset.ready === 'true')
    // through the demo site's form, as a person would
    const bytes = randomBytes(3 * 1024 * 1024 + 777)
    const file = join(devnet.dir, 'to-publish.bin')
    await writeFile(file, bytes)
    await aPage.setInputFiles('#file', file)
    await aPage.click('#publish')
    await expect(aPage.locator('#published')).toContainText('Published', { timeout: 60_000 })
    const link = (await aPage.locator('#published code').textContent())!
    expect(link).toMatch(/^peerloom:\/\/b[a-z2-7]+#k=[\w-]{43}$/)
    const aStats = (await pageCall(aPage, 'stats')).result as { published: number, bytesPublished: number }
    expect(aStats).toMatchObject({ published: 1, bytesPublished: bytes.length })

    // A announces it; B finds A through the relays and reads it from A
    const manifest = link.slice('peerloom://'.length, link.indexOf('#'))
    const aId = (await a.status()).peerId as string
    await b.waitFor(async () => (await (await fetch(`${devnet.relay.http}/routing/v1/providers/${manifest}`)).text()).includes(aId), 60_000, 'A listed as a provider')
    await b.waitReachable()
    const bPage = await openSite(b, site.url)
    expect((await connectAnswering(b, bPage, 'allow')).peerId).toBeDefined()
    const [whole] = await fetchRanges(bPage, link, [null])
    expect(whole).toMatchObject({ status: 200, length: bytes.length, sha256: sha256(bytes) })
    const bStats = (await pageCall(bPage, 'stats')).result as { bytesFromPeers: number, bytesFromOrigin: number }
    expect(bStats.bytesFromOrigin).toBe(0) // the origin never had it
    expect(bStats.bytesFromPeers).toBeGreaterThanOrEqual(bytes.length)
    expect((await a.status()).served.bytes).toBeGreaterThanOrEqual(bytes.length)
  } finally {
    await site.stop()
  }
})

test('SDK: without the extension the demo site reads from the origin gateway and verifies', async ({ devnet }) => {
  const content = await publishRandom(devnet, 2 * 1024 * 1024 + 99)
  const site = await startSite(devnet, [content])
  const profileDir = await mkdtemp(join(tmpdir(), 'peerloom-plain-'))
  const context = await chromium.launchPersistentContext(profileDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync']
  })
  try {
    const page = await context.newPage()
    await page.goto(site.url)
    await page.waitForFunction(() => document.documentElement.dataset.ready === 'true')
    expect(await page.evaluate(() => 'peerloom' in window)).toBe(false)
    await expect(page.locator('#mode')).toHaveAttribute('data-mode', 'gateway')
    const row = page.locator(`tr[data-link="${content.link}"]`)
    await row.getByRole('button', { name: 'Fetch & verify' }).click()
    await expect(row.locator('td.result')).toContainText('verified', { timeout: 60_000 })
    await expect(row.locator('td.result')).toContainText('via gateway')
    expect(await row.locator('td.result').getAttribute('data-sha256')).toBe(content.sha256)
    // publishing needs the extension: refused with a code
    await page.setInputFiles('#file', { name: 'x.txt', mimeType: 'text/plain', buffer: Buffer.from('hello') })
    await page.click('#publish')
    await expect(page.locator('#published')).toContainText('code 4200')
  } finally {
    await context.close()
    await rm(profileDir, { recursive: true, force: true })
    await site.stop()
  }
})
