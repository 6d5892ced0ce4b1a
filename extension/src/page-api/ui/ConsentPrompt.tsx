/** The consent window: names the site asking to use Peerloom; Allow or Deny. */
import { useEffect, useState } from 'preact/hooks'
import { CONSENT_PORT_PREFIX } from '../consent-prompts.ts'
import type { ConsentPortMessage } from '../consent-prompts.ts'

export function ConsentPrompt () {
  const [origin, setOrigin] = useState<string>()
  const [port, setPort] = useState<chrome.runtime.Port>()
  const [error, setError] = useState<string>()

  useEffect(() => {
    const id = new URLSearchParams(location.hash.slice(1)).get('id') ?? ''
    const opened = chrome.runtime.connect({ name: CONSENT_PORT_PREFIX + id })
    opened.onMessage.addListener((message: ConsentPortMessage) => {
      if ('origin' in message) setOrigin(message.origin)
      if ('done' in message) window.close()
    })
    opened.onDisconnect.addListener(() => { setError('This request is no longer pending (the site went away or the node restarted).') })
    setPort(opened)
  }, [])

  const answer = (decision: 'allow' | 'deny'): void => { port?.postMessage({ decision } satisfies ConsentPortMessage) }

  return (
    <main class="card" style={{ margin: '16px', display: 'grid', gap: '14px' }}>
      <h1>Allow this site to use Peerloom?</h1>
      {origin === undefined
        ? <p class="muted">{error ?? 'Loading the request…'}</p>
        : (
          <>
            <p class="mono" data-origin={origin} style={{ fontSize: '15px', wordBreak: 'break-all' }}>{origin}</p>
            <p class="muted">
              It will be able to fetch, play and publish content through your Peerloom node and see its own transfers.
              It cannot see what else is cached, what other sites fetched, or your keys. You can revoke this in Peerloom's options.
            </p>
            <div class="row" style={{ justifyContent: 'flex-end' }}>
              <button id="deny" onClick={() => { answer('deny') }}>Deny</button>
              <button id="allow" class="primary" onClick={() => { answer('allow') }}>Allow</button>
            </div>
          </>
          )}
      {error !== undefined && origin !== undefined && <p class="error">{error}</p>}
    </main>
  )
}
