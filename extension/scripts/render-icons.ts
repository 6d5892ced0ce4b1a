/**
 * Renders `public/icon/peerloom.svg` to the PNG sizes the manifest names (16, 32, 48, 128),
 * with the same Chromium the e2e tests use, so the icons need no image tool beyond it.
 * Run after editing the SVG: `node --import tsx extension/scripts/render-icons.ts`; commit the PNGs.
 */
import { chromium } from 'playwright-core'
import { readFile } from 'node:fs/promises'
import { join, resolve } from 'node:path'

const ICON_DIR = resolve(import.meta.dirname, '..', 'public', 'icon')
const SIZES = [16, 32, 48, 128]

const svg = await readFile(join(ICON_DIR, 'peerloom.svg'), 'utf8')
const browser = await chromium.launch({ executablePath: process.env.PEERLOOM_CHROMIUM ?? '/usr/bin/chromium', args: ['--no-sandbox', '--disable-gpu'] })
try {
  for (const size of SIZES) {
    const page = await browser.newPage({ viewport: { width: size, height: size }, deviceScaleFactor: 1 })
    await page.setContent(`<style>html,body{margin:0;background:transparent}svg{display:block;width:${size}px;height:${size}px}</style>${svg}`)
    await page.screenshot({ path: join(ICON_DIR, `${size}.png`), omitBackground: true })
    await page.close()
  }
} finally {
  await browser.close()
}
console.log(`wrote ${SIZES.map(s => `${s}.png`).join(', ')} in ${ICON_DIR}`)
