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

/** Opens the call page of the demo site at `siteUrl`; `consent` answers the prompt with Allow first. */
export async function openCallPage (profile: Profile, siteUrl: string, options: { room: string, name: string, consent: boolean }): Promise<Page> {
  const page = await profile.context.newPage()
  await page.setViewportSize(VIEWPORT)
  const url = new URL('/call.html', siteUrl)
  url.searchParams.set('room', options.room)
  url.searchParams.set('name', options.name)
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
