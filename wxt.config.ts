import { defineConfig } from 'wxt'
import preact from '@preact/preset-vite'

/** Builds the Peerloom extension (MV3) from `extension/` into `.output/chrome-mv3/`. */
export default defineConfig({
  srcDir: 'extension',
  outDir: '.output',
  // icons and other static files, copied as they are (WXT resolves this from the root, not srcDir)
  publicDir: 'extension/public',
  browser: 'chrome',
  manifestVersion: 3,
  vite: () => ({
    plugins: [preact()],
    build: { target: 'es2022', chunkSizeWarningLimit: 4096 }
  }),
  manifest: {
    name: 'Peerloom',
    description: 'Streams encrypted content from nearby peers and, if you choose, shares your spare bandwidth.',
    // storage: one mark, that the onboarding page was shown
    permissions: ['offscreen', 'alarms', 'unlimitedStorage', 'storage'],
    minimum_chrome_version: '116',
    // rendered from public/icon/peerloom.svg by extension/scripts/render-icons.ts
    icons: { 16: 'icon/16.png', 32: 'icon/32.png', 48: 'icon/48.png', 128: 'icon/128.png' },
    action: { default_title: 'Peerloom', default_icon: { 16: 'icon/16.png', 32: 'icon/32.png', 48: 'icon/48.png' } },
    // the page API: a hidden bridge frame and the player frame are embedded by web pages
    web_accessible_resources: [{ resources: ['bridge.html', 'player.html'], matches: ['<all_urls>'] }]
  }
})
