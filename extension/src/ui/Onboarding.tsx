/** The page opened once, on install: what Peerloom does, that sharing is off, the caps, where to change them. */
import { useEffect, useState } from 'preact/hooks'
import { NODE_DEFAULTS } from '@peerloom/shared'
import type { NodeSettings } from '@peerloom/shared'
import { nodeClient } from './node-client.ts'
import { count, formatBytes, formatRate } from './format.ts'
import { Logo } from './Logo.tsx'

/** How soon a settings read that found no node is tried again, ms. @default 1000 */
const RETRY_MS = 1000

type Caps = Pick<NodeSettings, 'donate' | 'uploadRateBytesPerSec' | 'maxServeConnections' | 'cacheCapBytes'>

export function Onboarding () {
  // the defaults until the node answers (it may still be starting when the page opens)
  const [caps, setCaps] = useState<Caps>(NODE_DEFAULTS)
  useEffect(() => {
    // read again whenever the tab is shown: the caps may have been changed in Options meanwhile,
    // and a tab left open in the background should cost the node nothing
    let retry: ReturnType<typeof setTimeout> | undefined
    const load = (): void => {
      clearTimeout(retry)
      if (document.visibilityState !== 'visible') return
      // the node may still be starting when the page opens on install
      nodeClient.settings().then(setCaps, () => { retry = setTimeout(load, RETRY_MS) })
    }
    load()
    document.addEventListener('visibilitychange', load)
    return () => { clearTimeout(retry); document.removeEventListener('visibilitychange', load) }
  }, [])

  return (
    <main class="page onboarding">
      <header class="row" style={{ gap: '12px' }}>
        <Logo size={48} />
        <div>
          <h1 style={{ fontSize: '24px' }}>Welcome to Peerloom</h1>
          <div class="muted">Installed and running. Here is what it does, in short.</div>
        </div>
      </header>

      <section class="card form">
        <h2>What it does</h2>
        <p>
          On sites that use Peerloom, videos and files come from other viewers' browsers nearby as well as from the
          site's own server, so they start sooner and cost the site less. Every piece is checked before it is used,
          and what your browser keeps is encrypted.
        </p>
        <p>A site can use Peerloom only after you allow it: Peerloom asks you the first time a site tries.</p>
      </section>

      <section class="card form" data-testid="onboarding-sharing">
        <h2>Nothing is shared unless you turn it on</h2>
        <p>
          <b>Sharing is {caps.donate ? 'on' : 'off'}.</b> {caps.donate
            ? 'Your browser serves what it has cached to other viewers, within the caps below.'
            : 'Until you turn it on, Peerloom only downloads: nothing is sent from your computer to anyone.'}
        </p>
        <p>
          If you turn sharing on, Peerloom serves only encrypted chunks already in your cache, and never more than
          your caps allow:
        </p>
        <ul class="caps" data-testid="onboarding-caps">
          <li><b>{formatRate(caps.uploadRateBytesPerSec)}</b> upload at most</li>
          <li><b>{count(caps.maxServeConnections, 'peer')}</b> served at once</li>
          <li><b>{formatBytes(caps.cacheCapBytes)}</b> of disk for the cache</li>
        </ul>
        <p class="hint">
          The peers you serve sign receipts for the bytes they got; those receipts can be claimed for rewards
          (set up under Rewards in Options).
        </p>
      </section>

      <div class="row">
        <a class="button primary" href="/options.html" data-testid="onboarding-options">Open Options</a>
        <span class="muted">to turn sharing on, change the caps, or set up relays and rewards. The toolbar button shows what the node is doing.</span>
      </div>
    </main>
  )
}
