/**
 * The extension's own pages as a newcomer meets them, in real Chromium with the built extension:
 * the onboarding tab on first install, the icon, the popup, Options (a wrong value named next to
 * its field in the field's unit) and the consent prompt (a Deny says where to allow the site
 * later, and Allow there lets it in). Each page is checked for what a person would notice (nothing
 * cut off or wider than the window) and saved as a screenshot artifact.
 */
import type { Page, TestInfo } from '@playwright/test'
import { expect, test } from '../src/fixtures.ts'
import { publishRandomFile } from '../src/devnet.ts'
import { openSite, startSite } from '../src/page-api.ts'
import type { Profile } from '../src/profile.ts'

/**
 * Saves a screenshot of `page` under the test's output folder and attaches it to the report;
 * `fullPage: false` shows the window as a person sees it (with Options' sticky Save bar where it sits).
 */
async function shoot (page: Page, testInfo: TestInfo, name: string, fullPage = true): Promise<void> {
  const path = testInfo.outputPath(`${name}.png`)
  await page.screenshot({ path, fullPage })
  await testInfo.attach(name, { path, contentType: 'image/png' })
}

/**
 * What a person would see as broken: the page scrolls sideways, an element reaches past the
 * window, an input or label cuts its text off, text too small to read.
 */
async function layoutProblems (page: Page): Promise<string[]> {
  return await page.evaluate(() => {
    const problems: string[] = []
    const name = (el: Element): string => `<${el.tagName.toLowerCase()}${el.getAttribute('data-testid') === null ? '' : ` data-testid=${el.getAttribute('data-testid')}`}${el.className === '' || typeof el.className !== 'string' ? '' : ` class=${el.className}`}> "${(el.textContent ?? '').trim().slice(0, 40)}"`
    const width = document.documentElement.clientWidth
    if (document.documentElement.scrollWidth > width) problems.push(`the page scrolls sideways: ${document.documentElement.scrollWidth} > ${width} px`)
    for (const el of document.querySelectorAll('body *')) {
      const box = el.getBoundingClientRect()
      if (box.width === 0 || box.height === 0) continue
      if (box.right > width + 0.5 || box.left < -0.5) problems.push(`${name(el)} reaches past the window (${Math.round(box.left)}–${Math.round(box.right)} of ${width} px)`)
      const style = getComputedStyle(el)
      const ownText = [...el.childNodes].some(n => n.nodeType === Node.TEXT_NODE && (n.textContent ?? '').trim() !== '')
      if (ownText && parseFloat(style.fontSize) < 11) problems.push(`${name(el)} is in ${style.fontSize} type, too small to read`)
      const clips = style.overflowX === 'hidden' || style.overflowX === 'clip' || style.textOverflow === 'ellipsis'
      if (clips && el.scrollWidth > el.clientWidth + 1) problems.push(`${name(el)} cuts its content off (${el.scrollWidth} > ${el.clientWidth} px)`)
    }
    for (const input of document.querySelectorAll<HTMLInputElement | HTMLTextAreaElement>('input:not([type=checkbox]):not([type=radio]), textarea')) {
      if (input.scrollWidth > input.clientWidth) problems.push(`${name(input)} (value "${input.value.slice(0, 40)}") cuts its value off (${input.scrollWidth} > ${input.clientWidth} px)`)
      if (input.clientWidth < 60) problems.push(`${name(input)} is too narrow to type in (${input.clientWidth} px)`)
    }
    for (const label of document.querySelectorAll<HTMLElement>('.field-label, h1, h2, button')) {
      if (label.offsetParent !== null && label.scrollWidth > label.clientWidth + 1) problems.push(`${name(label)} does not fit (${label.scrollWidth} > ${label.clientWidth} px)`)
    }
    return problems
  })
}

/** The extension page at `path` in a tab of `width` × `height` px. */
async function openExtensionPage (profile: Profile, path: string, width: number, height: number): Promise<Page> {
  const page = await profile.context.newPage()
  await page.setViewportSize({ width, height })
  await page.goto(`chrome-extension://${profile.extensionId}${path}`)
  return page
}

test('first install: the onboarding tab opens, and the icon is in the manifest and loads', async ({ launch }, testInfo) => {
  const a = await launch('a')
  let onboarding: Page | undefined
  await a.waitFor(async () => {
    onboarding = a.context.pages().find(p => p.url() === `chrome-extension://${a.extensionId}/onboarding.html`)
    return onboarding !== undefined
  }, 60_000, 'the onboarding tab')
  const page = onboarding as Page
  await page.setViewportSize({ width: 900, height: 800 })
  // opened at install, before the fixture set this profile's caps: shown again (a hidden tab
  // reads them again when it is shown, which headless tabs, never hidden, do not go through)
  await page.reload()
  await expect(page.getByRole('heading', { name: 'Welcome to Peerloom' })).toBeVisible()
  await expect(page.getByTestId('onboarding-sharing')).toContainText('Sharing is off')
  await expect(page.getByTestId('onboarding-sharing')).toContainText('nothing is sent from your computer to anyone')
  // the caps are this profile's own (the fixture sets a 256 MiB/s upload cap), not made up
  await expect(page.getByTestId('onboarding-caps')).toContainText('256.0 MiB/s')
  await expect(page.getByTestId('onboarding-caps')).toContainText('16 peers')
  await expect(page.getByTestId('onboarding-options')).toHaveAttribute('href', '/options.html')
  expect(await layoutProblems(page)).toEqual([])
  await shoot(page, testInfo, 'onboarding')

  // only on install: a restart of the same profile opens no second onboarding tab (closed
  // first, so that the browser's session restore cannot bring it back)
  await page.close()
  await a.close()
  await a.open()
  await expect.poll(() => a.context.pages().map(p => p.url())).toContain(`chrome-extension://${a.extensionId}/popup.html`)
  expect(a.context.pages().filter(p => p.url().endsWith('/onboarding.html'))).toHaveLength(0)

  const manifest = await a.page.evaluate(() => chrome.runtime.getManifest())
  expect(manifest.icons).toEqual({ 16: 'icon/16.png', 32: 'icon/32.png', 48: 'icon/48.png', 128: 'icon/128.png' })
  expect(manifest.action?.default_icon).toEqual({ 16: 'icon/16.png', 32: 'icon/32.png', 48: 'icon/48.png' })
  const sizes = await a.page.evaluate(async (icons: Record<string, string>) => await Promise.all(Object.entries(icons).map(async ([size, path]) => {
    const bitmap = await createImageBitmap(await (await fetch(`/${path}`)).blob())
    return { size: Number(size), width: bitmap.width, height: bitmap.height }
  })), manifest.icons as Record<string, string>)
  for (const { size, width, height } of sizes) expect({ width, height }).toEqual({ width: size, height: size })
})

test('the popup: labels, singular and plural, epochs as times, nothing cut off', async ({ devnet, launch }, testInfo) => {
  const a = await launch('a')
  await a.waitReachable()
  // a little traffic so the chart has a curve and its rate axis labels
  const file = await publishRandomFile(devnet.dir, devnet.origin.dataDir, 4 * 1024 * 1024, 'ui.bin')
  await a.fetchAll(file.link)
  const popup = await openExtensionPage(a, '/popup.html', 380, 600)
  await expect(popup.getByTestId('node-state')).toHaveText('Online')
  // Chrome shows at most 600 px of a popup before it scrolls: the sharing switch is within them
  await expect(popup.getByTestId('donate-switch')).toBeInViewport()
  await expect(popup.getByTestId('relay')).toHaveCount(2)
  for (const label of ['Peers', 'Cache', 'Served', 'Received', 'Earnings', 'Share with other viewers', 'Last 10 minutes']) {
    await expect(popup.getByText(label, { exact: true })).toBeVisible()
  }
  const text = await popup.locator('main').innerText()
  expect(text).not.toMatch(/\(s\)|\(es\)/)
  expect(text).toMatch(/\bto 0 peers\b/)
  expect(text).toMatch(/\b16 peers at once\b/)
  // served vs receipted is explained, and the epoch is a time range rather than unix seconds
  await expect(popup.getByTestId('earnings-help')).toContainText('Served counts the bytes your node sent')
  await expect(popup.getByTestId('earnings-help')).toContainText('only those can be claimed')
  // an end on another day names that day ("11:56 PM – Dec 3 12:56 AM")
  await expect(popup.getByTestId('earnings-epoch')).toHaveText(/This epoch: (?:[A-Z][a-z]{2} \d{1,2},? )?\d{1,2}:\d{2}.* – (?:[A-Z][a-z]{2} \d{1,2},? )?\d{1,2}:\d{2}/)
  expect(await popup.getByTestId('earnings-epoch').innerText()).not.toMatch(/\d{9}/)
  // the chart is drawn within its card, with room for its axis labels
  const chart = await popup.getByTestId('transfer-chart').evaluate(el => ({ chart: el.querySelector('.uplot')?.getBoundingClientRect().right ?? Infinity, card: (el.parentElement as HTMLElement).getBoundingClientRect().right }))
  expect(chart.chart).toBeLessThanOrEqual(chart.card)
  await expect(popup.getByTestId('cache-used')).not.toHaveText('0 B')
  expect(await layoutProblems(popup)).toEqual([])
  await shoot(popup, testInfo, 'popup')

  // the popup is told of changes rather than asking: sharing turned on from another page shows in it,
  // and still does after Chrome replaced the service worker that relays the node's events
  await a.call('updateSettings', { donate: true })
  await expect(popup.getByTestId('donate-switch')).toBeChecked()
  const workerBefore = await a.workerStartedAt()
  await a.stopServiceWorker()
  await a.call('updateSettings', { donate: false }) // wakes a new worker
  expect(await a.workerStartedAt()).not.toBe(workerBefore)
  await expect(popup.getByTestId('donate-switch')).not.toBeChecked()
  await expect(popup.getByTestId('popup-error')).toHaveCount(0)
})

test('Options: styled fields that fit their values; a wrong value is named next to its field in MiB', async ({ launch }, testInfo) => {
  const a = await launch('a')
  const before = await a.call<{ cacheCapBytes: number }>('settings')
  const options = await openExtensionPage(a, '/options.html', 820, 900)
  await expect(options.getByTestId('opt-cache')).toHaveValue(String(before.cacheCapBytes / 1024 / 1024))
  await options.getByTestId('opt-pool').fill('0x5FbDB2315678afecb367f032d93F642f64180aa3')
  await options.getByTestId('opt-payout').fill('0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266')
  await options.getByTestId('opt-rpc').fill('http://127.0.0.1:8545')
  await expect(options.getByTestId('opt-unsaved')).toHaveText('Unsaved changes')
  // forwarding calls is opt-in like sharing, and says that what it forwards is ciphertext
  await expect(options.getByTestId('opt-media-forward')).not.toBeChecked()
  await expect(options.getByTestId('opt-media-help')).toContainText('end-to-end encrypted')
  await options.getByTestId('opt-media-streams').fill('8')
  for (const label of ['Upload rate cap (MiB/s)', 'Peers served at once', 'Cache cap (MiB)', 'Calls (media role)', 'Forwarding upload cap (MiB/s)', 'Streams forwarded at once', 'Relays', 'Chain JSON-RPC URL', 'Chain id', 'Epoch length (seconds)', 'RewardPool address', 'Payout address']) {
    await expect(options.getByText(label, { exact: true })).toBeVisible()
  }
  // the Rewards inputs look like the others (a border and the page's colours, not the browser's)
  const looks = await options.evaluate(() => [document.querySelector('[data-testid=opt-pool]'), document.querySelector('[data-testid=opt-cache]')].map(el => {
    const s = getComputedStyle(el as Element)
    return { border: s.borderTopColor, background: s.backgroundColor, radius: s.borderTopLeftRadius }
  }))
  expect(looks[0]).toEqual(looks[1])
  expect(await layoutProblems(options)).toEqual([])
  await shoot(options, testInfo, 'options', false)
  await options.getByText('Rewards and gated content').scrollIntoViewIfNeeded()
  await shoot(options, testInfo, 'options-rewards', false)
  await options.evaluate(() => { window.scrollTo(0, document.body.scrollHeight) })
  await shoot(options, testInfo, 'options-end', false)

  // 4 MiB is below the 16 MiB minimum: said under the field and by Save, in MiB, and not saved
  await options.getByTestId('opt-cache').fill('4')
  // Save pressed from the end of the page: the field in trouble comes into view, next to its problem
  await options.evaluate(() => { window.scrollTo(0, document.body.scrollHeight) })
  await options.getByTestId('opt-save').click()
  const error = options.getByTestId('opt-cache-error')
  await expect(error).toHaveText('must be at least 16 MiB')
  await expect(error).toBeInViewport()
  await expect(options.getByTestId('opt-save-errors')).toHaveText('Not saved: fix Cache cap.')
  await expect(options.getByTestId('opt-save-errors')).toBeInViewport()
  const [inputBox, errorBox] = [await options.getByTestId('opt-cache').boundingBox(), await error.boundingBox()]
  expect(errorBox!.y - (inputBox!.y + inputBox!.height)).toBeLessThan(24)
  expect(Math.abs(errorBox!.x - inputBox!.x)).toBeLessThan(4)
  expect(await options.locator('body').innerText()).not.toContain('16777216')
  expect((await a.call<{ cacheCapBytes: number }>('settings')).cacheCapBytes).toBe(before.cacheCapBytes)
  expect(await layoutProblems(options)).toEqual([])
  await shoot(options, testInfo, 'options-invalid', false)

  // editing the field clears its error; a valid value saves
  await options.getByTestId('opt-cache').fill('64')
  await expect(error).toHaveCount(0)
  await options.getByTestId('opt-save').click()
  await expect(options.getByTestId('options-message')).toHaveText('Saved. The node applied the new settings.')
  await expect(options.getByTestId('opt-unsaved')).toHaveCount(0)
  expect((await a.call<{ cacheCapBytes: number, rewardPool?: string }>('settings'))).toMatchObject({ cacheCapBytes: 64 * 1024 * 1024, rewardPool: '0x5FbDB2315678afecb367f032d93F642f64180aa3', media: { forward: false, maxStreams: 8 } })
})

test('the consent prompt: what a site may do; after Deny, where to allow it, and Allow there lets it in', async ({ devnet, launch }, testInfo) => {
  const site = await startSite(devnet, [])
  const a = await launch('a')
  try {
    const page = await openSite(a, site.url)
    const origin = new URL(site.url).origin
    const promptOpened = a.context.waitForEvent('page', { predicate: p => p.url().includes('/prompt.html'), timeout: 60_000 })
    const outcome = page.evaluate(async () => await window.peerloom!.connect().then(() => 0, (e: { code: number }) => e.code))
    const prompt = await promptOpened
    // the window the service worker opens is 420 × 540
    await prompt.setViewportSize({ width: 420, height: 540 })
    await expect(prompt.locator(`[data-origin="${origin}"]`)).toBeVisible()
    await expect(prompt.getByRole('heading', { name: 'Allow this site to use Peerloom?' })).toBeVisible()
    await expect(prompt.getByText('It will be able to')).toBeVisible()
    await expect(prompt.getByText('It cannot', { exact: true })).toBeVisible()
    await expect(prompt.locator('#allow')).toBeInViewport()
    await expect(prompt.locator('#deny')).toBeInViewport()
    expect(await layoutProblems(prompt)).toEqual([])
    await shoot(prompt, testInfo, 'prompt')

    await prompt.click('#deny')
    expect(await outcome).toBe(4001)
    await expect(prompt.getByTestId('consent-denied')).toBeVisible()
    await expect(prompt.getByTestId('consent-how-to-allow')).toContainText('Peerloom options → Sites')
    expect(await layoutProblems(prompt)).toEqual([])
    await shoot(prompt, testInfo, 'prompt-denied')

    // the prompt's button opens Options at Sites, where the denied site can be allowed
    const optionsOpened = a.context.waitForEvent('page', { predicate: p => p.url().includes('/options.html#sites'), timeout: 60_000 })
    await prompt.getByTestId('consent-open-options').click()
    const options = await optionsOpened
    const row = options.locator(`[data-site-origin="${origin}"]`)
    await expect(row).toContainText('denied')
    await expect(options.getByTestId('permitted-sites')).toBeInViewport()
    await row.getByTestId('site-allow').click()
    await expect(row).toContainText('allowed')
    // allowed without another prompt
    const peerId = await page.evaluate(async () => (await window.peerloom!.connect()).peerId)
    expect(peerId).toBe((await a.status()).peerId)
  } finally {
    await site.stop()
  }
})
