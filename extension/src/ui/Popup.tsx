/** The toolbar popup: is the node up, who am I, what is it doing, am I donating. */
import { useEffect, useState } from 'preact/hooks'
import { nodeClient } from './node-client.ts'
import type { RelayStatus } from './node-client.ts'
import { useNodeEvents } from './use-node-events.ts'
import { count, formatBytes, formatRate, shortId } from './format.ts'
import { TransferChart } from './TransferChart.tsx'
import { Earnings } from './Earnings.tsx'
import { Logo } from './Logo.tsx'

/** Re-renders every `ms` while `on`: a countdown the node has no reason to send events for. */
function useTicking (on: boolean, ms: number): void {
  const [, setTick] = useState(0)
  useEffect(() => {
    if (!on) return
    const timer = setInterval(() => { setTick(t => t + 1) }, ms)
    return () => { clearInterval(timer) }
  }, [on, ms])
}

function Copyable ({ label, value, testId }: { label: string, value: string | undefined, testId: string }) {
  const [copied, setCopied] = useState(false)
  return (
    <div class="spread">
      <span class="muted">{label}</span>
      <span class="row">
        <span class="mono" data-testid={testId} title={value}>{value === undefined ? '—' : shortId(value, 8)}</span>
        <button class="copy" title={`Copy ${label.toLowerCase()}`} disabled={value === undefined} onClick={() => {
          if (value === undefined) return
          void navigator.clipboard.writeText(value).then(() => { setCopied(true); setTimeout(() => { setCopied(false) }, 1200) })
        }}>{copied
          ? <svg width="12" height="12" viewBox="0 0 16 16" aria-hidden="true"><path d="M3 8.5 6.5 12 13 4" stroke="#3ecf8e" stroke-width="2" fill="none" /></svg>
          : <svg width="12" height="12" viewBox="0 0 16 16" aria-hidden="true"><rect x="5" y="5" width="9" height="9" rx="2" stroke="currentColor" fill="none" /><path d="M11 3.5V3a1 1 0 0 0-1-1H3a1 1 0 0 0-1 1v7a1 1 0 0 0 1 1h.5" stroke="currentColor" fill="none" /></svg>}</button>
      </span>
    </div>
  )
}

function relayLabel (relay: RelayStatus): { tone: string, text: string } {
  if (relay.reserved) return { tone: 'good', text: 'reservation held' }
  if (relay.connected) return { tone: 'warn', text: 'connected, reserving…' }
  const retry = relay.nextAttemptAt === undefined ? '' : `, retry in ${Math.max(0, Math.round((relay.nextAttemptAt - Date.now()) / 1000))}s`
  return { tone: 'bad', text: `unreachable${retry}` }
}

function relayHost (addr: string): string {
  const m = /^\/(?:ip4|ip6|dns4|dns6|dns)\/([^/]+)\/tcp\/(\d+)/.exec(addr)
  return m === null ? addr : `${m[1]}:${m[2]}`
}

export function Popup () {
  const [view, apply] = useNodeEvents()
  const { status, settings, history, earnings } = view
  const [error, setError] = useState<string>()
  const [busy, setBusy] = useState(false)
  // "retry in 12s" counts down between the keeper's attempts
  useTicking(status?.relays.some(r => r.nextAttemptAt !== undefined) === true, 1000)

  const toggleDonate = async (donate: boolean): Promise<void> => {
    setBusy(true)
    setError(undefined)
    try {
      apply({ settings: await nodeClient.updateSettings({ donate }) })
    } catch (err) {
      setError((err as Error).message)
    } finally {
      setBusy(false)
    }
  }

  const state = status?.state ?? 'starting'
  const tone = state === 'running' ? (status?.relays.some(r => r.reserved) === true ? 'good' : 'warn') : state === 'failed' ? 'bad' : 'warn'
  const stateText = state === 'running' ? (status?.relays.some(r => r.reserved) === true ? 'Online' : 'No relay') : state === 'failed' ? 'Failed' : state === 'stopped' ? 'Stopped' : 'Starting'
  const cache = status?.cache
  const cachePct = cache === undefined || cache.capBytes === 0 ? 0 : Math.min(100, cache.usedBytes / cache.capBytes * 100)
  const direct = status?.peers.filter(p => p.direct).length ?? 0
  const recentErrors = view.errors.slice(-3).reverse()
  const shownError = error ?? view.problem

  return (
    <main style={{ width: '380px', padding: '14px', display: 'grid', gap: '10px' }}>
      <header class="spread">
        <div class="row">
          <Logo size={22} />
          <h1>Peerloom</h1>
        </div>
        <span class="pill" data-testid="node-state"><span class={`dot ${tone}`} />{stateText}</span>
      </header>

      {shownError !== undefined && <div class="error" data-testid="popup-error">{shownError}</div>}

      {/* the one choice that matters most, above the fold of a popup (at most 600 px tall) */}
      <section class="card spread">
        <div>
          <div style={{ fontWeight: 600 }}>Share with other viewers</div>
          <div class="muted">
            {settings === undefined ? '…' : settings.donate ? `Up to ${formatRate(settings.uploadRateBytesPerSec)}, ${count(settings.maxServeConnections, 'peer')} at once` : `Off: nothing is sent to anyone. When on: up to ${formatRate(settings.uploadRateBytesPerSec)}, ${count(settings.maxServeConnections, 'peer')} at once.`}
          </div>
        </div>
        <label class="switch" title="Serve cached content to other peers">
          <input type="checkbox" data-testid="donate-switch" checked={settings?.donate === true} disabled={busy || settings === undefined}
            onChange={e => { void toggleDonate((e.target as HTMLInputElement).checked) }} />
          <span />
        </label>
      </section>

      <section class="card" style={{ display: 'grid', gap: '4px' }}>
        <Copyable label="Peer ID" value={status?.peerId} testId="peer-id" />
        <Copyable label="Address" value={status?.address} testId="eth-address" />
      </section>

      <section class="card">
        <h2>Relays</h2>
        {(status?.relays.length ?? 0) === 0 && <div class="muted">No relay configured. <a href="/options.html" target="_blank">Add one in Options</a>.</div>}
        {status?.relays.map(relay => {
          const label = relayLabel(relay)
          return (
            <div class="spread" key={relay.addr} data-testid="relay" title={relay.lastError ?? relay.addr}>
              <span class="row"><span class={`dot ${label.tone}`} /><span class="mono">{relayHost(relay.addr)}</span></span>
              <span class="muted">{label.text}</span>
            </div>
          )
        })}
      </section>

      <section class="grid2">
        <div class="card stat" title="peers this node is connected to right now">
          <div class="label">Peers</div>
          <div class="value" data-testid="peer-count">{status?.peers.length ?? 0}</div>
          <div class="muted">{direct} direct</div>
        </div>
        <div class="card stat">
          <div class="label">Cache</div>
          <div class="value" data-testid="cache-used">{formatBytes(cache?.usedBytes ?? 0)}</div>
          <div class="muted">of {formatBytes(cache?.capBytes ?? 0)}</div>
          <div class="bar"><div style={{ width: `${cachePct}%` }} /></div>
        </div>
        <div class="card stat" title="bytes your node sent to other peers (donating); see Earnings for what they signed for">
          <div class="label">Served</div>
          <div class="value" data-testid="served-bytes">{formatBytes(status?.served.bytes ?? 0)}</div>
          <div class="muted">to {count(status?.served.clients ?? 0, 'peer')}</div>
        </div>
        <div class="card stat" title="bytes this node fetched, from peers and from the origin">
          <div class="label">Received</div>
          <div class="value">{formatBytes((status?.received.fromPeers ?? 0) + (status?.received.fromOrigin ?? 0))}</div>
          <div class="muted">{formatBytes(status?.received.fromPeers ?? 0)} from peers</div>
        </div>
      </section>

      <section class="card">
        <div class="spread" style={{ marginBottom: '4px' }}>
          <h2 style={{ margin: 0 }}>Last 10 minutes</h2>
          <div class="legend"><span><i style={{ background: 'var(--served)' }} />served</span><span><i style={{ background: 'var(--received)' }} />received</span></div>
        </div>
        <TransferChart series={history} />
      </section>


      <Earnings data={earnings} epochSeconds={settings?.epochSeconds} onClaimed={claimed => { apply({ earnings: claimed }) }} />

      {recentErrors.length > 0 && (
        <section style={{ display: 'grid', gap: '4px' }} data-testid="node-errors">
          {recentErrors.map(e => <div class="error" key={`${e.at}-${e.message}`}>{e.message} <span class="muted">(code {e.code})</span></div>)}
        </section>
      )}

      <footer class="spread muted">
        <span title={status?.multiaddrs.join('\n')}>{count(status?.multiaddrs.filter(a => a.includes('/webrtc')).length ?? 0, 'WebRTC address', 'WebRTC addresses')}</span>
        <a href="/options.html" target="_blank">Options</a>
      </footer>
    </main>
  )
}
