/**
 * The consent window: names the site asking to use Peerloom, says what it may and may not do;
 * Allow or Deny. After a Deny it stays open to say where the site can be allowed later.
 */
import { useEffect, useRef, useState } from 'preact/hooks'
import { CONSENT_PORT_PREFIX } from '../wire.ts'
import type { ConsentPortMessage } from '../wire.ts'
import { Logo } from '../../ui/Logo.tsx'
import { SITES_OPTIONS_PATH } from '../../ui/pages.ts'

const openSitesOptions = (): void => {
  void chrome.tabs.create({ url: chrome.runtime.getURL(SITES_OPTIONS_PATH) }).then(() => { window.close() })
}

export function ConsentPrompt () {
  const [origin, setOrigin] = useState<string>()
  const [port, setPort] = useState<chrome.runtime.Port>()
  const [error, setError] = useState<string>()
  const [answered, setAnswered] = useState<'allow' | 'deny'>()
  const [denied, setDenied] = useState(false)
  // read by the port's listeners, which outlive the render that made them
  const decision = useRef<'allow' | 'deny'>()

  useEffect(() => {
    const id = new URLSearchParams(location.hash.slice(1)).get('id') ?? ''
    const opened = chrome.runtime.connect({ name: CONSENT_PORT_PREFIX + id })
    opened.onMessage.addListener((message: ConsentPortMessage) => {
      if ('origin' in message) setOrigin(message.origin)
      if ('done' in message) {
        // an Allow needs no more words; a Deny says how to undo it
        if (decision.current === 'deny') setDenied(true)
        else window.close()
      }
    })
    opened.onDisconnect.addListener(() => { if (decision.current === undefined) setError('This request is no longer pending (the site went away or the node restarted). You can close this window.') })
    setPort(opened)
  }, [])

  const answer = (value: 'allow' | 'deny'): void => {
    decision.current = value
    setAnswered(value)
    port?.postMessage({ decision: value } satisfies ConsentPortMessage)
  }

  if (denied && origin !== undefined) {
    return (
      <main class="prompt" data-testid="consent-denied">
        <header class="row"><Logo size={22} /><span class="prompt-brand">Peerloom</span></header>
        <h1>Denied</h1>
        <p class="origin mono" data-origin={origin}>{origin}</p>
        <p>This site can't use Peerloom, and it can't ask again for a while (10 minutes at first, longer after more refusals).</p>
        <p class="hint" data-testid="consent-how-to-allow">
          Changed your mind? Open <b>Peerloom options → Sites</b> and press <b>Allow</b> next to this site
          (or <b>Forget</b>, to let it ask again). Then reload the site.
        </p>
        <div class="row prompt-actions">
          <button onClick={() => { window.close() }}>Close</button>
          <button class="primary" data-testid="consent-open-options" onClick={openSitesOptions}>Open Sites in Options</button>
        </div>
      </main>
    )
  }

  return (
    <main class="prompt">
      <header class="row"><Logo size={22} /><span class="prompt-brand">Peerloom</span></header>
      <h1>Allow this site to use Peerloom?</h1>
      {origin === undefined
        ? <p class="muted">{error ?? 'Loading the request…'}</p>
        : (
          <>
            <p class="origin mono" data-origin={origin}>{origin}</p>
            <div class="prompt-lists">
              <div>
                <h2>It will be able to</h2>
                <ul class="can">
                  <li>fetch and play content through your Peerloom node</li>
                  <li>publish content through it</li>
                  <li>see its own transfers</li>
                </ul>
              </div>
              <div>
                <h2>It cannot</h2>
                <ul class="cannot">
                  <li>see what else is cached, or what other sites fetched</li>
                  <li>see your keys</li>
                  <li>turn on sharing or change your caps: only you can, in Options</li>
                </ul>
              </div>
            </div>
            <p class="hint">You can change your answer any time in Peerloom options → Sites.</p>
            <div class="row prompt-actions">
              <button id="deny" disabled={answered !== undefined} onClick={() => { answer('deny') }}>Deny</button>
              <button id="allow" class="primary" disabled={answered !== undefined} onClick={() => { answer('allow') }}>Allow</button>
            </div>
          </>
          )}
      {error !== undefined && origin !== undefined && <p class="error">{error}</p>}
    </main>
  )
}
