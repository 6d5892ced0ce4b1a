/**
 * Helpers for the call tests: the demo site's call page in a profile, joined to a room the way
 * a person does it (consent, then the Join button), and what the page shows — frames each
 * remote video presented (requestVideoFrameCallback counts in the page) and the chat log.
 */
import type { Page } from 'playwright-core'
import { connectAnswering } from './page-api.ts'
import type { Profile } from './profile.ts'

/** Room joins, first frames and chat across profiles on two shared cores take a while. */
export const CALL_WAIT_MS = 120_000

/** Large enough that every tile is on screen: an off-screen video need not present frames. */
const VIEWPORT = { width: 1280, height: 900 }

/** Opens the call page of the demo site at `siteUrl`; `consent` answers the prompt with Allow first; `height` sizes the camera's picture. */
export async function openCallPage (profile: Profile, siteUrl: string, options: { room: string, name: string, consent: boolean, height?: number }): Promise<Page> {
  const page = await profile.context.newPage()
  await page.setViewportSize(VIEWPORT)
  const url = new URL('/call.html', siteUrl)
  url.searchParams.set('room', options.room)
  url.searchParams.set('name', options.name)
  if (options.height !== undefined) url.searchParams.set('height', String(options.height))
  await page.goto(url.toString())
  await page.waitForFunction(() => document.documentElement.dataset.ready === 'true' && window.peerloom?.isPeerloom === true, undefined, { timeout: 60_000 })
  if (options.consent) {
    const outcome = await connectAnswering(profile, page, 'allow')
    if (outcome.peerId === undefined) throw new Error(`${profile.name}: consent failed: ${outcome.error?.message ?? 'no answer'}`)
  }
  return page
}

/** Clicks Join and waits until the page is in the call. */
export async function joinFromPage (page: Page): Promise<void> {
  await page.click('#join')
  await page.locator('#call-state[data-state="connected"]').waitFor({ timeout: CALL_WAIT_MS })
}

/** Frames presented so far by each remote participant's video, by peer id. */
export async function remoteFrames (page: Page): Promise<Record<string, number>> {
  return await page.evaluate(() => Object.fromEntries(
    [...document.querySelectorAll<HTMLElement>('#videos figure')]
      .filter(f => f.dataset.peerId !== 'self')
      .map(f => [f.dataset.peerId!, Number(f.querySelector('video')?.dataset.frames ?? 0)])
  ))
}

/**
 * Waits until `page` presented at least `more` new frames from each of `peerIds` after
 * `since` (a `remoteFrames` reading; absent peers count from 0).
 */
export async function waitForFrames (profile: Profile, page: Page, peerIds: string[], more: number, since: Record<string, number> = {}): Promise<Record<string, number>> {
  let last: Record<string, number> = {}
  await poll(async () => {
    last = await remoteFrames(page)
    return peerIds.every(id => (last[id] ?? 0) >= (since[id] ?? 0) + more)
  }, () => `${profile.name}: ${more} more frames from ${peerIds.join(', ')} after ${JSON.stringify(since)}; shown ${JSON.stringify(last)}`)
  return last
}

/** What one remote video shows now: its decoded size and the mean and spread of its pixels' luma (0–255). */
export interface VideoPixels {
  width: number
  height: number
  mean: number
  stdev: number
}

/**
 * Draws the frame `peerId`'s remote video shows now into a small canvas and measures its luma,
 * so a test can tell a picture from a black (or flat) one; null while the tile has no frame.
 */
export async function remotePixels (page: Page, peerId: string): Promise<VideoPixels | null> {
  return await page.evaluate(id => {
    const video = document.querySelector<HTMLVideoElement>(`#videos figure[data-peer-id="${CSS.escape(id)}"] video`)
    if (video === null || video.videoWidth === 0 || video.videoHeight === 0) return null
    const canvas = document.createElement('canvas')
    canvas.width = 160
    canvas.height = 120
    const context = canvas.getContext('2d', { willReadFrequently: true })
    if (context === null) return null
    context.drawImage(video, 0, 0, canvas.width, canvas.height)
    const { data } = context.getImageData(0, 0, canvas.width, canvas.height)
    let sum = 0
    let squares = 0
    const n = data.length / 4
    for (let i = 0; i < data.length; i += 4) {
      const luma = 0.299 * data[i]! + 0.587 * data[i + 1]! + 0.114 * data[i + 2]!
      sum += luma
      squares += luma * luma
    }
    const mean = sum / n
    return { width: video.videoWidth, height: video.videoHeight, mean, stdev: Math.sqrt(Math.max(0, squares / n - mean * mean)) }
  }, peerId)
}

/**
 * Least luma spread of a remote video that counts as a picture. Chromium's fake camera
 * (--use-fake-device-for-media-stream) draws a moving pattern on a coloured background, far
 * above it; a black or flat frame is about 0.
 */
export const MIN_PICTURE_STDEV = 8

/**
 * Waits until every one of `peerIds`' remote videos on `page` shows a picture (not black, not
 * flat: see MIN_PICTURE_STDEV), and returns what each showed.
 */
export async function waitForPictures (profile: Profile, page: Page, peerIds: string[]): Promise<Record<string, VideoPixels>> {
  const seen: Record<string, VideoPixels | null> = {}
  await poll(async () => {
    for (const id of peerIds) seen[id] = await remotePixels(page, id)
    return peerIds.every(id => (seen[id]?.stdev ?? 0) >= MIN_PICTURE_STDEV)
  }, () => `${profile.name}: a picture (luma spread ≥ ${MIN_PICTURE_STDEV}) from ${peerIds.join(', ')}; shown ${JSON.stringify(seen)}`)
  return seen as Record<string, VideoPixels>
}

/** The chat log's texts, oldest first. */
export async function chatTexts (page: Page): Promise<string[]> {
  return await page.locator('#chat-log li .text').allTextContents()
}

/** Sends `text` from the page's chat form. */
export async function sendChat (page: Page, text: string): Promise<void> {
  await page.fill('#chat-text', text)
  await page.click('#chat-send')
  // the page clears the field once the message is sealed and sent
  await page.waitForFunction(() => (document.getElementById('chat-text') as HTMLInputElement).value === '', undefined, { timeout: 60_000 })
}

/** Waits until every one of `texts` is in the page's chat log. */
export async function waitForChat (profile: Profile, page: Page, texts: string[]): Promise<string[]> {
  let seen: string[] = []
  await poll(async () => {
    seen = await chatTexts(page)
    return texts.every(t => seen.includes(t))
  }, () => `${profile.name}: chat ${JSON.stringify(texts)}; shown ${JSON.stringify(seen)}`)
  return seen
}

/** Polls `check` every 500 ms until it holds; the error names what was last seen. */
async function poll (check: () => Promise<boolean>, what: () => string, timeoutMs = CALL_WAIT_MS): Promise<void> {
  const deadline = Date.now() + timeoutMs
  let lastError: unknown
  while (Date.now() < deadline) {
    try {
      if (await check()) return
    } catch (err) {
      lastError = err
    }
    await new Promise(resolve => setTimeout(resolve, 500))
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what()}${lastError === undefined ? '' : `; last error: ${(lastError as Error).message}`}`)
}
