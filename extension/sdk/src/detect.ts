/** Finds the extension's provider: `window.peerloom`, or whoever answers the announce request. */
import { ANNOUNCE_EVENT, INITIALIZED_EVENT, REQUEST_EVENT } from '@peerloom/shared/page-api'
import type { PeerloomProvider, ProviderInfo } from '@peerloom/shared/page-api'

/** How long to wait for the extension to announce itself. @default 300 */
export const DEFAULT_DETECT_TIMEOUT_MS = 300

export interface DetectedProvider {
  provider: PeerloomProvider
  info: ProviderInfo | null
}

declare global {
  interface Window {
    peerloom?: PeerloomProvider
  }
}

/** Resolves the installed provider, or null when none answers within `timeoutMs`. */
export async function detectProvider (options: { timeoutMs?: number, target?: Window } = {}): Promise<DetectedProvider | null> {
  const target = options.target ?? window
  if (target.peerloom?.isPeerloom === true) return { provider: target.peerloom, info: null }
  return await new Promise(resolve => {
    const done = (value: DetectedProvider | null): void => {
      clearTimeout(timer)
      target.removeEventListener(ANNOUNCE_EVENT, onAnnounce)
      target.removeEventListener(INITIALIZED_EVENT, onInitialized)
      resolve(value)
    }
    const onAnnounce = (event: Event): void => {
      const detail = (event as CustomEvent<{ info: ProviderInfo, provider: PeerloomProvider }>).detail
      if (detail?.provider?.isPeerloom === true) done({ provider: detail.provider, info: detail.info ?? null })
    }
    const onInitialized = (): void => {
      if (target.peerloom?.isPeerloom === true) done({ provider: target.peerloom, info: null })
    }
    const timer = setTimeout(() => { done(null) }, options.timeoutMs ?? DEFAULT_DETECT_TIMEOUT_MS)
    target.addEventListener(ANNOUNCE_EVENT, onAnnounce)
    target.addEventListener(INITIALIZED_EVENT, onInitialized)
    target.dispatchEvent(new Event(REQUEST_EVENT))
  })
}
