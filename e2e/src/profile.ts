/** A Chromium profile with the built extension, driven through the extension's own request channel. */
import { chromium } from 'playwright-core'
import type { BrowserContext, Page, Worker } from 'playwright-core'
import { execFileSync } from 'node:child_process'
import { mkdtemp } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import type { TransferState } from '../../extension/src/node/transfers.ts'

export const EXTENSION_DIR = resolve(import.meta.dirname, '..', '..', '.output', 'chrome-mv3')
export const CHROMIUM = process.env.PEERLOOM_CHROMIUM ?? '/usr/bin/chromium'

/** Flags docs/PLATFORM.md found necessary for extensions and loopback WebRTC in new headless mode. */
export function chromiumArgs (extensionDir = EXTENSION_DIR): string[] {
  return [
    `--disable-extensions-except=${extensionDir}`,
    `--load-extension=${extensionDir}`,
    '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
    '--allow-loopback-in-peer-connection', '--use-fake-ui-for-media-stream',
    // calls: a fake camera and microphone at 30 fps (the default fake camera gives 20)
    '--use-fake-device-for-media-stream=fps=30',
    // extra flags for debugging, e.g. PEERLOOM_CHROMIUM_FLAGS=--remote-debugging-port=9333 to profile the offscreen document
    ...(process.env.PEERLOOM_CHROMIUM_FLAGS?.split(' ').filter(Boolean) ?? [])
  ]
}

/**
 * Playwright default switches that no user's browser has, left out of every launch that stands
 * for one. With `--disable-renderer-backgrounding`, and the profile's page opened while the
 * extension starts (as `Profile.open` does), the extension renderer's V8 isolate ran in background mode, which collects
 * garbage to save memory: 24–30 mark-compacts in 4 s of a block-sized allocation loop in the
 * offscreen document, against 2–9 without the switch. Chromium with its default switches,
 * headless or headful, never showed that mode in the same probes (bench/transfer.README.md, the
 * 22:06 UTC section).
 */
export const SWITCHES_USERS_DO_NOT_HAVE = ['--disable-renderer-backgrounding']

/** A transfer as the extension's test hook reports it (the extension's own type). */
export type { TransferState }

export interface NodeStatus {
  state: string
  startedAt?: number
  peerId?: string
  address?: string
  multiaddrs: string[]
  relays: Array<{ addr: string, peerId: string, connected: boolean, reserved: boolean, lastError?: string, attempts: number }>
  peers: Array<{ peerId: string, addr: string, direct: boolean }>
  cache: { usedBytes: number, capBytes: number, blocks: number }
  donate: boolean
  served: { bytes: number, clients: number, activePeers: number }
  received: { fromPeers: number, fromOrigin: number }
  /** Peers the node no longer asks first: banned for bad bytes, demoted for stalls and failures. */
  distrusted: Array<{ peerId: string, standing: 'banned' | 'demoted', until: number, reason: string }>
  errors: Array<{ at: number, code: number, message: string }>
}

export class NodeCallError extends Error {
  readonly code: number
  constructor (code: number, message: string) {
    super(`${message} (code ${code})`)
    this.code = code
  }
}

export class Profile {
  readonly name: string
  readonly userDataDir: string
  context!: BrowserContext
  extensionId!: string
  /** An extension page used to reach the node (the popup). */
  page!: Page

  /** Switches added to `chromiumArgs()` at every launch of this profile. */
  private readonly flags: string[]

  private constructor (name: string, userDataDir: string, flags: string[]) {
    this.name = name
    this.userDataDir = userDataDir
    this.flags = flags
  }

  /** Launches Chromium with the extension in a fresh (or the given) profile directory; `flags` come after the usual switches, so a repeated one wins. */
  static async launch (name: string, options: { userDataDir?: string, flags?: string[] } = {}): Promise<Profile> {
    const profile = new Profile(name, options.userDataDir ?? await mkdtemp(join(tmpdir(), `peerloom-${name}-`)), options.flags ?? [])
    await profile.open()
    if (process.env.OFFSCREEN_DEBUG !== undefined) {
      // e.g. OFFSCREEN_DEBUG='peerloom:*': the extension's debug logs, which its documents read from localStorage as they start
      await profile.page.evaluate((namespaces) => { localStorage.setItem('debug', namespaces) }, process.env.OFFSCREEN_DEBUG)
      await profile.close()
      await profile.open()
    }
    return profile
  }

  async open (): Promise<void> {
    this.context = await chromium.launchPersistentContext(this.userDataDir, {
      executablePath: CHROMIUM,
      headless: true,
      // and without --disable-extensions, which would keep the extension out
      ignoreDefaultArgs: ['--disable-extensions', ...SWITCHES_USERS_DO_NOT_HAVE],
      args: [...chromiumArgs(), ...this.flags],
      viewport: { width: 420, height: 760 }
    })
    const worker = this.context.serviceWorkers()[0] ?? await this.context.waitForEvent('serviceworker', { timeout: 120_000 })
    this.extensionId = new URL(worker.url()).host
    this.page = await this.context.newPage()
    await this.page.goto(`chrome-extension://${this.extensionId}/popup.html`)
    await this.waitFor(async () => (await this.status()).state === 'running', 120_000, 'node running')
  }

  /** Closes the browser (the profile directory stays). */
  async close (): Promise<void> {
    await this.context.close()
  }

  /** Kills the browser as a crash would: SIGKILL to its main process, so no connection says goodbye. Resolves once Playwright saw it go. */
  async kill (): Promise<void> {
    const closed = new Promise(resolve => this.context.once('close', resolve))
    for (const line of execFileSync('ps', ['-eo', 'pid=,args='], { maxBuffer: 16 * 1024 * 1024 }).toString().split('\n')) {
      const match = /^\s*(\d+)\s+(.*)$/.exec(line)
      if (match === null || !match[2]!.includes(`--user-data-dir=${this.userDataDir}`) || match[2]!.includes('--type=')) continue
      process.kill(Number(match[1]), 'SIGKILL')
    }
    await closed
  }

  serviceWorker (): Worker | undefined {
    return this.context.serviceWorkers()[0]
  }

  /** When the current service worker instance started (it changes when Chrome replaces the worker). */
  async workerStartedAt (): Promise<number> {
    const response = await this.page.evaluate(async () => await chrome.runtime.sendMessage({ to: 'worker' })) as { result: { startedAt: number } }
    return response.result.startedAt
  }

  /** Stops the extension's service worker, as Chrome does when it is idle. */
  async stopServiceWorker (): Promise<void> {
    const cdp = await this.context.newCDPSession(this.page)
    try {
      const { targetInfos } = await cdp.send('Target.getTargets')
      const worker = targetInfos.find(t => t.type === 'service_worker' && t.url.startsWith(`chrome-extension://${this.extensionId}/`))
      if (worker === undefined) throw new Error('the extension has no running service worker')
      await cdp.send('Target.closeTarget', { targetId: worker.targetId })
    } finally {
      await cdp.detach()
    }
  }

  /** Calls a node method through the service worker, as the popup does. */
  async call<T> (method: string, params?: unknown): Promise<T> {
    const response = await this.page.evaluate(async ([m, p]) => await chrome.runtime.sendMessage({ to: 'node', method: m, params: p }), [method, params] as const) as { ok: boolean, result?: T, error?: { code: number, message: string } }
    if (!response.ok) throw new NodeCallError(response.error?.code ?? 0, response.error?.message ?? 'no answer')
    return response.result as T
  }

  async status (): Promise<NodeStatus> {
    return await this.call<NodeStatus>('status')
  }

  async configure (settings: Record<string, unknown>): Promise<void> {
    await this.call('updateSettings', settings)
  }

  /** Waits until at least one configured relay holds our reservation (we are reachable). */
  async waitReachable (timeoutMs = 60_000): Promise<NodeStatus> {
    let last: NodeStatus | undefined
    await this.waitFor(async () => {
      last = await this.status()
      return last.relays.some(r => r.reserved) && last.multiaddrs.some(a => a.includes('/webrtc'))
    }, timeoutMs, 'a relay reservation and a WebRTC address')
    return last as NodeStatus
  }

  /** Reads a link to the end in the node; resolves with the finished transfer. */
  async fetchAll (link: string, timeoutMs = 120_000, onPoll?: (state: TransferState) => Promise<void>): Promise<TransferState> {
    const started = await this.call<TransferState>('startTransfer', { link })
    return await this.waitTransfer(started.id, timeoutMs, onPoll)
  }

  /** Polls transfer `id` until it finishes. */
  async waitTransfer (id: string, timeoutMs = 120_000, onPoll?: (state: TransferState) => Promise<void>): Promise<TransferState> {
    let state: TransferState | undefined
    await this.waitFor(async () => {
      state = await this.call<TransferState>('transfer', { id })
      await onPoll?.(state)
      return state.finishedAt !== undefined
    }, timeoutMs, `transfer ${id}`)
    return state as TransferState
  }

  async waitFor (check: () => Promise<boolean>, timeoutMs: number, what: string, intervalMs = 200): Promise<void> {
    const deadline = Date.now() + timeoutMs
    let lastError: unknown
    while (Date.now() < deadline) {
      try {
        if (await check()) return
      } catch (err) {
        lastError = err
      }
      await new Promise(resolve => setTimeout(resolve, intervalMs))
    }
    throw new Error(`${this.name}: timed out after ${timeoutMs} ms waiting for ${what}${lastError === undefined ? '' : `; last error: ${(lastError as Error).message}`}`)
  }
}
