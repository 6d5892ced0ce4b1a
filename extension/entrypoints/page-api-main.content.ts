/**
 * `window.peerloom` in every page's main world, announced with `peerloom#initialized` and the
 * EIP-6963-style `peerloom:announceProvider` event (again whenever a site dispatches
 * `peerloom:requestProvider`).
 */
import { ANNOUNCE_EVENT, INITIALIZED_EVENT, PROVIDER_RDNS, REQUEST_EVENT } from '@peerloom/shared/provider'
import type { ProviderInfo } from '@peerloom/shared/provider'
import { createProvider } from '../src/page-api/page/provider.ts'
import { PROVIDER_ICON } from '../src/page-api/page/icon.ts'

export default defineContentScript({
  matches: ['<all_urls>'],
  world: 'MAIN',
  runAt: 'document_start',
  allFrames: true,
  main () {
    if ((window as { peerloom?: unknown }).peerloom !== undefined) return
    const provider = createProvider()
    const info: ProviderInfo = Object.freeze({ uuid: crypto.randomUUID(), name: 'Peerloom', icon: PROVIDER_ICON, rdns: PROVIDER_RDNS })
    Object.defineProperty(window, 'peerloom', { value: provider, enumerable: true, configurable: false, writable: false })
    const announce = (): void => { window.dispatchEvent(new CustomEvent(ANNOUNCE_EVENT, { detail: Object.freeze({ info, provider }) })) }
    window.addEventListener(REQUEST_EVENT, announce)
    window.dispatchEvent(new Event(INITIALIZED_EVENT))
    announce()
  }
})
