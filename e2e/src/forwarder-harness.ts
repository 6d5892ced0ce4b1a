/**
 * A Chromium harness for the forwarder engine before it runs in the extension: the engine and
 * its frame relay bundled (esbuild) into a plain page on loopback, and participant pages with
 * the fake camera that talk to it the way CALLS.md says a page talks to its forwarder. The
 * test routes the signalling (what FORWARD_PROTOCOL carries in the product) between them.
 */
import { build } from 'esbuild'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { chromium } from 'playwright-core'
import type { Browser, BrowserContext, Page } from 'playwright-core'
import { CHROMIUM, SWITCHES_USERS_DO_NOT_HAVE, chromiumArgs } from './profile.ts'
import type { ForwarderStats, LegMessage } from '../../extension/src/calls/forwarder/engine.ts'

export const ROOM_ID = '0x' + 'ab'.repeat(32)
const HERE = import.meta.dirname

type WireResult = { ok: true } | { ok: false, code: number, message: string }

/** Flags of profile.ts without the extension: these pages need only WebRTC and the fake devices. */
function pageArgs (): string[] {
  return chromiumArgs().filter(arg => !arg.startsWith('--disable-extensions-except=') && !arg.startsWith('--load-extension='))
}

const page = (script: string): string => `<!doctype html><meta charset="utf-8"><title>${script}</title><body><script type="module" src="/${script}.js"></script></body>`

/** Bundles the four scripts and serves them on 127.0.0.1. */
async function serve (): Promise<{ url: string, close: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'peerloom-forwarder-'))
  const entries: Array<[string, string, 'esm' | 'iife']> = [
    ['forwarder', 'forwarder-page.ts', 'esm'],
    ['relay-worker', 'forwarder-relay-worker.ts', 'iife'],
    ['participant', 'forwarder-participant.ts', 'esm'],
    ['participant-worker', 'forwarder-participant-worker.ts', 'iife']
  ]
  await Promise.all(entries.map(async ([name, entry, format]) => await build({
    entryPoints: [join(HERE, entry)], bundle: true, format, platform: 'browser', target: 'es2022',
    outfile: join(dir, `${name}.js`), logLevel: 'warning'
  })))
  const files = new Map<string, [string, Buffer | string]>([
    ['/forwarder.html', ['text/html', page('forwarder')]],
    ['/participant.html', ['text/html', page('participant')]]
  ])
  for (const [name] of entries) files.set(`/${name}.js`, ['text/javascript', await readFile(join(dir, `${name}.js`))])
  const server = createServer((req, res) => {
    const file = files.get(req.url ?? '')
    if (file === undefined) return res.writeHead(404).end()
    res.writeHead(200, { 'content-type': file[0] }).end(file[1])
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: async () => { server.close(); await rm(dir, { recursive: true, force: true }) }
  }
}

/** Runs `task`s one after the other: signalling must arrive in the order it was sent. */
class Lane {
  private tail: Promise<unknown> = Promise.resolve()
  run (task: () => Promise<unknown>): void {
    this.tail = this.tail.then(task).catch(() => {})
  }
}

export interface Participant {
  peerId: string
  page: Page
  attach: WireResult
}

export interface HarnessOptions {
  maxStreams?: number
  uploadRateBytesPerSec?: number
  /** Run the forwarder in its own browser with this profile directory (so its processes' CPU can be read apart by it). */
  forwarderUserDataDir?: string
}

export class ForwarderHarness {
  /** The first forwarder's page. */
  readonly forwarder: Page
  readonly forwarders = new Map<string, Page>()
  readonly participants = new Map<string, Participant & { forwarder: string }>()
  private readonly browsers: Array<Browser | BrowserContext>
  private readonly participantBrowser: Browser
  private readonly url: string
  private readonly limits: { maxStreams: number, uploadRateBytesPerSec: number }
  private readonly closeServer: () => Promise<void>
  /** Where each forwarder's legs lead: `${forwarder} ${legId}` → deliver. */
  private readonly routes = new Map<string, (message: LegMessage) => void>()

  private constructor (forwarder: Page, browsers: Array<Browser | BrowserContext>, participantBrowser: Browser, url: string, limits: ForwarderHarness['limits'], closeServer: () => Promise<void>) {
    this.forwarder = forwarder
    this.browsers = browsers
    this.participantBrowser = participantBrowser
    this.url = url
    this.limits = limits
    this.closeServer = closeServer
  }

  static async start (options: HarnessOptions = {}): Promise<ForwarderHarness> {
    const server = await serve()
    const launchOptions = { executablePath: CHROMIUM, headless: true, ignoreDefaultArgs: SWITCHES_USERS_DO_NOT_HAVE, args: pageArgs() }
    const participantBrowser = await chromium.launch(launchOptions)
    const forwarderContext = options.forwarderUserDataDir === undefined ? undefined : await chromium.launchPersistentContext(options.forwarderUserDataDir, launchOptions)
    const forwarder = await (forwarderContext ?? participantBrowser).newPage()
    const limits = { maxStreams: options.maxStreams ?? 64, uploadRateBytesPerSec: options.uploadRateBytesPerSec ?? 64 * 1024 * 1024 }
    const harness = new ForwarderHarness(forwarder, forwarderContext === undefined ? [participantBrowser] : [participantBrowser, forwarderContext], participantBrowser, server.url, limits, server.close)
    await harness.openForwarder('f1', forwarder)
    return harness
  }

  static legId (peerId: string): string {
    return `${ROOM_ID}/${peerId}`
  }

  /** Another forwarder (for cascades), in the participants' browser. */
  async addForwarder (name: string): Promise<Page> {
    return await this.openForwarder(name, await this.participantBrowser.newPage())
  }

  /** Joins two forwarders by a cascade leg; `opener` is the polite side, as the lower peer id is (CALLS.md). */
  async cascade (opener: string, other: string): Promise<void> {
    const [a, b] = [this.forwarders.get(opener)!, this.forwarders.get(other)!]
    const [legAtOpener, legAtOther] = [ForwarderHarness.legId(other), ForwarderHarness.legId(opener)]
    const lanes = [new Lane(), new Lane()] as const
    this.routes.set(`${opener} ${legAtOpener}`, message => { lanes[0].run(async () => await b.evaluate(async ([leg, m]) => await window.forwarder.receive(leg, m), [legAtOther, message] as const)) })
    this.routes.set(`${other} ${legAtOther}`, message => { lanes[1].run(async () => await a.evaluate(async ([leg, m]) => await window.forwarder.receive(leg, m), [legAtOpener, message] as const)) })
    const results = [
      await b.evaluate(([leg, room, peer]) => window.forwarder.attach(leg, room, peer, 'cascade', false), [legAtOther, ROOM_ID, opener] as const),
      await a.evaluate(([leg, room, peer]) => window.forwarder.attach(leg, room, peer, 'cascade', true), [legAtOpener, ROOM_ID, other] as const)
    ]
    for (const result of results) if (!result.ok) throw new Error(`cascade refused: ${result.message}`)
  }

  /** Opens a participant page, starts its camera and attaches it to a forwarder (the first one unless named). */
  async join (peerId: string, options: { encrypt?: boolean, stamp?: boolean, forwarder?: string } = {}): Promise<Participant> {
    const name = options.forwarder ?? 'f1'
    const forwarder = this.forwarders.get(name)!
    const legId = ForwarderHarness.legId(peerId)
    const toForwarder = new Lane()
    const page = await this.openParticipant(peerId, options, message => {
      toForwarder.run(async () => {
        const result = await forwarder.evaluate(async ([leg, m]) => await window.forwarder.receive(leg, m), [legId, message] as const)
        if (!result.ok) console.error(`${name} refused a signal from ${peerId}: ${result.message}`)
      })
    })
    // routed before the attach: the engine's first offer may leave before the attach answers
    const toParticipant = new Lane()
    this.routes.set(`${name} ${legId}`, message => { toParticipant.run(async () => { await page.evaluate(async m => { await window.participant.receive(m) }, message) }) })
    const participant = { peerId, page, forwarder: name, attach: { ok: true } as WireResult }
    this.participants.set(peerId, participant)
    participant.attach = await forwarder.evaluate(([leg, room, peer]) => window.forwarder.attach(leg, room, peer), [legId, ROOM_ID, peerId] as const)
    if (!participant.attach.ok) {
      this.participants.delete(peerId)
      this.routes.delete(`${name} ${legId}`)
      await page.close()
    }
    return participant
  }

  /** Benchmark baseline: two participant pages connected to each other directly (`a` offers), no forwarder. */
  async pairDirect (a: string, b: string, options: { stamp?: boolean } = {}): Promise<void> {
    const lanes = { [a]: new Lane(), [b]: new Lane() }
    const pages: Record<string, Page> = {}
    const route = (to: string) => (message: LegMessage) => { lanes[to]!.run(async () => { await pages[to]!.evaluate(async m => { await window.participant.receive(m) }, message) }) }
    pages[a] = await this.openParticipant(a, options, route(b))
    pages[b] = await this.openParticipant(b, options, route(a))
    this.participants.set(a, { peerId: a, page: pages[a], forwarder: '', attach: { ok: true } })
    this.participants.set(b, { peerId: b, page: pages[b], forwarder: '', attach: { ok: true } })
    await pages[a].evaluate(async ([self, remote]) => { await window.participant.offerDirect(self, remote) }, [a, b] as const)
  }

  /** The participant detaches (as its node does on leave) and its page closes. */
  async leave (peerId: string): Promise<void> {
    const participant = this.participants.get(peerId)
    if (participant === undefined) return
    this.participants.delete(peerId)
    await participant.page.evaluate(() => { window.participant.stop() })
    await participant.page.close()
    await this.forwarders.get(participant.forwarder)!.evaluate(async leg => await window.forwarder.receive(leg, { type: 'detach' }), ForwarderHarness.legId(peerId))
  }

  async decoded (peerId: string): Promise<Record<string, number>> {
    return await this.participants.get(peerId)!.page.evaluate(() => ({ ...window.participant.decoded }))
  }

  async mids (peerId: string): Promise<Record<string, string>> {
    return await this.participants.get(peerId)!.page.evaluate(() => window.participant.mids())
  }

  async stats (forwarder = 'f1'): Promise<ForwarderStats> {
    return await this.forwarders.get(forwarder)!.evaluate(() => window.forwarder.stats())
  }

  /** Digests of the next `count` video frames from `peerId` as they reach a forwarder. */
  async sampleAtForwarder (peerId: string, count: number, forwarder = 'f1'): Promise<string[]> {
    return await this.forwarders.get(forwarder)!.evaluate(async ([room, peer, n]) => await window.forwarder.sample(room, peer, n), [ROOM_ID, peerId, count] as const)
  }

  async recorded (peerId: string): Promise<{ sent: string[], plain: string[], received: Record<string, string[]>, latency: Record<string, number[]> }> {
    return await this.participants.get(peerId)!.page.evaluate(async () => await window.participant.recorded())
  }

  async close (): Promise<void> {
    for (const browser of this.browsers) await browser.close().catch(() => {})
    await this.closeServer()
  }

  private async openForwarder (name: string, page: Page): Promise<Page> {
    page.on('pageerror', err => { console.error(`forwarder ${name} page:`, err) })
    this.forwarders.set(name, page)
    await page.exposeBinding('fwSend', (_source, legId: string, message: LegMessage) => { this.routes.get(`${name} ${legId}`)?.(message) })
    await page.goto(`${this.url}/forwarder.html`)
    await page.waitForFunction(() => 'forwarder' in window)
    await page.evaluate(limits => { window.forwarder.start(limits) }, this.limits)
    return page
  }

  private async openParticipant (peerId: string, options: { encrypt?: boolean, stamp?: boolean }, send: (message: LegMessage) => void): Promise<Page> {
    const page = await this.participantBrowser.newPage()
    page.on('pageerror', err => { console.error(`${peerId} page:`, err) })
    await page.exposeBinding('ptSend', (_source, message: LegMessage) => { send(message) })
    await page.goto(`${this.url}/participant.html`)
    await page.waitForFunction(() => 'participant' in window)
    await page.evaluate(async opts => { await window.participant.start(opts) }, { encrypt: options.encrypt ?? false, stamp: options.stamp ?? false })
    return page
  }
}
