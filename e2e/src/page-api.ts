/**
 * Helpers for the page-API tests and the stream bench: sites on their own origins, files
 * published into the origin, and the consent prompt answered the way a person would.
 */
import { spawn } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import { readFile, writeFile } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import type { Page } from 'playwright-core'
import { startDemoSite } from '../demo-site/server.ts'
import type { DemoContent, DemoSite } from '../demo-site/server.ts'
import type { Devnet } from './devnet.ts'
import type { Profile } from './profile.ts'

const ROOT = resolve(import.meta.dirname, '..', '..')
const CLI_BIN = join(ROOT, 'relay-node', 'bin', 'peerloom.js')
export const DEMO_VIDEO = join(ROOT, 'e2e', 'media', 'demo.webm')

export interface PublishedContent extends DemoContent {
  manifest: string
  bytes: Buffer
}

/** Publishes a file into the devnet's origin with the `peerloom publish` CLI. */
export async function publishFile (devnet: Devnet, path: string, mime: string, title = path.split('/').at(-1) as string): Promise<PublishedContent> {
  const bytes = await readFile(path)
  const child = spawn(process.execPath, [CLI_BIN, 'publish', path, '--data', devnet.origin.dataDir, '--name', title, '--mime', mime, '--quiet'], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, PEERLOOM_PUBLISHER_KEY: randomBytes(32).toString('hex') }
  })
  let out = ''
  let err = ''
  child.stdout.on('data', (d: Buffer) => { out += d.toString() })
  child.stderr.on('data', (d: Buffer) => { err += d.toString() })
  const code = await new Promise<number | null>(resolve => child.once('exit', resolve))
  if (code !== 0) throw new Error(`peerloom publish failed (${code}): ${err.slice(-2000)}`)
  const { link, manifest } = JSON.parse(out.trim().split('\n').at(-1) as string) as { link: string, manifest: string }
  return { title, link, manifest, mime, size: bytes.length, sha256: sha256(bytes), bytes }
}

/** Random bytes written to `dir/name` and published. */
export async function publishRandom (devnet: Devnet, size: number, name = 'random.bin'): Promise<PublishedContent> {
  const path = join(devnet.dir, name)
  await writeFile(path, randomBytes(size))
  return await publishFile(devnet, path, 'application/octet-stream', name)
}

export function sha256 (bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex')
}

/** The demo site for this devnet (its own origin: 127.0.0.1 and a free port). */
export async function startSite (devnet: Devnet, content: DemoContent[], host = '127.0.0.1'): Promise<DemoSite> {
  return await startDemoSite({ gateways: [devnet.origin.http], content, host })
}

/** An error as the page saw it: code and message. */
export interface PageError { code?: number, message: string, data?: Record<string, unknown> }

/**
 * Waits for the consent prompt naming `origin` and answers it: 'allow', 'deny' or 'close' (the
 * window closed without a choice). Start it before the action that opens the prompt.
 */
export async function answerPrompt (profile: Profile, origin: string, answer: 'allow' | 'deny' | 'close'): Promise<void> {
  const window_ = await profile.context.waitForEvent('page', { predicate: p => p.url().includes('/prompt.html'), timeout: 60_000 })
  await window_.locator(`[data-origin="${origin}"]`).waitFor({ timeout: 60_000 })
  if (answer === 'close') await window_.close()
  else {
    // after Allow the prompt closes itself once the node has the answer, sometimes before the click
    // action returns; after Deny it stays open with its hint
    await window_.click(answer === 'allow' ? '#allow' : '#deny').catch((err: Error) => { if (!window_.isClosed()) throw err })
  }
}

/**
 * Calls `peerloom.connect()` in `page` and answers the prompt window: 'allow', 'deny' or
 * 'close'. Resolves with the call's outcome.
 */
export async function connectAnswering (profile: Profile, page: Page, answer: 'allow' | 'deny' | 'close'): Promise<{ peerId?: string, error?: PageError }> {
  const answered = answerPrompt(profile, new URL(page.url()).origin, answer)
  const outcome = page.evaluate(async () => {
    try {
      return await window.peerloom!.connect()
    } catch (err) {
      const e = err as { code?: number, message: string, data?: Record<string, unknown> }
      return { error: { code: e.code, message: e.message, data: e.data } }
    }
  })
  await answered
  return await outcome as { peerId?: string, error?: PageError }
}

/** Opens `url` in a new tab of `profile` and waits for the demo site (and window.peerloom). */
export async function openSite (profile: Profile, url: string): Promise<Page> {
  const page = await profile.context.newPage()
  await page.goto(url)
  await page.waitForFunction(() => document.documentElement.dataset.ready === 'true' && window.peerloom?.isPeerloom === true, undefined, { timeout: 60_000 })
  return page
}

declare global {
  interface Window {
    peerloom?: import('@peerloom/shared/provider').PeerloomProvider
  }
}
