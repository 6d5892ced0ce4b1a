/**
 * The consent prompt, seen from the node's document: it asks the service worker to open the
 * prompt window, and the window answers over a `chrome.runtime` port named after the request.
 * Closing the window without choosing counts as a dismissal (refused, not remembered).
 */
import type { ConsentAnswer } from './host.ts'
import { CONSENT_PROMPT_TIMEOUT_MS } from '../constants.ts'
import { CONSENT_PORT_PREFIX } from '../wire.ts'
import type { ConsentPortMessage, OpenConsentMessage } from '../wire.ts'

interface PendingPrompt {
  origin: string
  answer: (answer: ConsentAnswer) => void
}

export class ConsentPrompts {
  private readonly pending = new Map<string, PendingPrompt>()
  private readonly openWindow: (message: OpenConsentMessage) => Promise<void>
  private readonly promptUrl: string

  /** `promptUrl`: the prompt page's URL; only ports from it are listened to. */
  constructor (openWindow: (message: OpenConsentMessage) => Promise<void>, promptUrl: string) {
    this.openWindow = openWindow
    this.promptUrl = promptUrl
  }

  /** Opens the prompt for `origin` and resolves with the user's answer. */
  async ask (origin: string): Promise<ConsentAnswer> {
    const id = crypto.randomUUID()
    const answer = new Promise<ConsentAnswer>(resolve => {
      const timer = setTimeout(() => { settle('dismissed') }, CONSENT_PROMPT_TIMEOUT_MS)
      const settle = (value: ConsentAnswer): void => {
        clearTimeout(timer)
        if (this.pending.delete(id)) resolve(value)
      }
      this.pending.set(id, { origin, answer: settle })
    })
    try {
      await this.openWindow({ to: 'page-api', type: 'open-consent', id, origin })
    } catch (err) {
      this.pending.get(id)?.answer('dismissed')
      throw err
    }
    return await answer
  }

  /** Handles a runtime port; returns false when it is not a prompt's. */
  attach (port: chrome.runtime.Port): boolean {
    if (!port.name.startsWith(CONSENT_PORT_PREFIX)) return false
    const id = port.name.slice(CONSENT_PORT_PREFIX.length)
    const prompt = this.pending.get(id)
    // only the prompt page may answer (content scripts can open runtime ports too)
    if (prompt === undefined || port.sender?.url?.startsWith(this.promptUrl) !== true) {
      port.disconnect()
      return true
    }
    port.postMessage({ origin: prompt.origin } satisfies ConsentPortMessage)
    port.onMessage.addListener((message: { decision?: unknown }) => {
      if (message?.decision !== 'allow' && message?.decision !== 'deny') return
      prompt.answer(message.decision === 'allow' ? 'allowed' : 'denied')
      port.postMessage({ done: true } satisfies ConsentPortMessage)
    })
    port.onDisconnect.addListener(() => { prompt.answer('dismissed') })
    return true
  }
}
