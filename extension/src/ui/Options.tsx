/** Options: donation caps, cache cap, network (relays, routers, gateways, ICE), identity and cache resets. */
import { useEffect, useState } from 'preact/hooks'
import type { NodeSettings, NodeSettingsInput } from '@peerloom/shared'
import type { NodeStatus } from '../node.ts'
import type { ClientUsage } from '../serve-meter.ts'
import { nodeClient } from './node-client.ts'
import { ago, formatBytes, shortId } from './format.ts'
import { PermittedSites } from '../page-api/ui/PermittedSites.tsx'

const MiB = 1024 * 1024

interface Draft {
  donate: boolean
  uploadMiB: string
  maxPeers: string
  cacheMiB: string
  relays: string
  routers: string
  gateways: string
  iceServers: string
  /** Rewards and gated content (see src/rewards/README.md). */
  rpcUrl: string
  chainId: string
  rewardPool: string
  contentRegistry: string
  payoutAddress: string
  keyServices: string
  epochSeconds: string
}

function toDraft (s: NodeSettings): Draft {
  return {
    donate: s.donate,
    uploadMiB: String(+(s.uploadRateBytesPerSec / MiB).toFixed(3)),
    maxPeers: String(s.maxServeConnections),
    cacheMiB: String(Math.round(s.cacheCapBytes / MiB)),
    relays: s.relays.join('\n'),
    routers: s.routers.join('\n'),
    gateways: s.gateways.join('\n'),
    iceServers: JSON.stringify(s.iceServers, null, 2),
    rpcUrl: s.rpcUrl ?? '',
    chainId: s.chainId === undefined ? '' : String(s.chainId),
    rewardPool: s.rewardPool ?? '',
    contentRegistry: s.contentRegistry ?? '',
    payoutAddress: s.payoutAddress ?? '',
    keyServices: s.keyServices.join('\n'),
    epochSeconds: String(s.epochSeconds)
  }
}

/** A text field that is optional in the settings: left out when blank. */
const optional = <K extends string>(key: K, value: string): Partial<Record<K, string>> => value.trim() === '' ? {} : { [key]: value.trim() } as Record<K, string>

const lines = (text: string): string[] => text.split('\n').map(l => l.trim()).filter(l => l !== '')

function fromDraft (d: Draft): NodeSettingsInput {
  let iceServers: unknown
  try {
    iceServers = JSON.parse(d.iceServers.trim() === '' ? '[]' : d.iceServers)
  } catch {
    throw new Error('ICE servers must be JSON, e.g. [{"urls": "stun:stun.example.org:3478"}]')
  }
  return {
    donate: d.donate,
    uploadRateBytesPerSec: Math.round(Number(d.uploadMiB) * MiB),
    maxServeConnections: Number(d.maxPeers),
    cacheCapBytes: Math.round(Number(d.cacheMiB) * MiB),
    relays: lines(d.relays),
    routers: lines(d.routers),
    gateways: lines(d.gateways),
    iceServers: iceServers as NodeSettingsInput['iceServers'],
    ...optional('rpcUrl', d.rpcUrl),
    ...(d.chainId.trim() === '' ? {} : { chainId: Number(d.chainId) }),
    ...optional('rewardPool', d.rewardPool),
    ...optional('contentRegistry', d.contentRegistry),
    ...optional('payoutAddress', d.payoutAddress),
    keyServices: lines(d.keyServices),
    epochSeconds: Number(d.epochSeconds)
  }
}

export function Options () {
  const [draft, setDraft] = useState<Draft>()
  const [status, setStatus] = useState<NodeStatus>()
  const [clients, setClients] = useState<ClientUsage[]>([])
  const [message, setMessage] = useState<{ tone: 'good' | 'bad', text: string }>()
  const [busy, setBusy] = useState(false)

  const load = async (): Promise<void> => {
    try {
      const [s, st, cl] = await Promise.all([nodeClient.settings(), nodeClient.status(), nodeClient.servedClients()])
      setDraft(toDraft(s))
      setStatus(st)
      setClients(cl)
    } catch (err) {
      setMessage({ tone: 'bad', text: (err as Error).message })
    }
  }
  useEffect(() => { void load() }, [])

  const act = async (what: () => Promise<void>, done: string): Promise<void> => {
    setBusy(true)
    setMessage(undefined)
    try {
      await what()
      setMessage({ tone: 'good', text: done })
    } catch (err) {
      setMessage({ tone: 'bad', text: (err as Error).message })
    } finally {
      setBusy(false)
    }
  }

  if (draft === undefined) return <main style={{ padding: '24px' }}>{message?.text ?? 'Loading…'}</main>
  const set = (patch: Partial<Draft>): void => { setDraft({ ...draft, ...patch }) }
  const field = (key: keyof Draft) => (e: Event) => { set({ [key]: (e.target as HTMLInputElement).value }) }

  return (
    <main style={{ maxWidth: '760px', margin: '0 auto', padding: '24px', display: 'grid', gap: '14px' }}>
      <h1 style={{ fontSize: '20px' }}>Peerloom options</h1>
      {message !== undefined && <div class={message.tone === 'bad' ? 'error' : 'card'} data-testid="options-message">{message.text}</div>}

      <section class="card" style={{ display: 'grid', gap: '10px' }}>
        <h2>Sharing</h2>
        <label class="spread">
          <span>Serve cached content to other viewers <span class="muted">(off until you turn it on)</span></span>
          <span class="switch"><input type="checkbox" data-testid="opt-donate" checked={draft.donate} onChange={e => { set({ donate: (e.target as HTMLInputElement).checked }) }} /><span /></span>
        </label>
        <div class="grid2">
          <label>Upload rate cap (MiB/s)<input type="number" min="0.016" step="0.5" data-testid="opt-upload" value={draft.uploadMiB} onInput={field('uploadMiB')} /></label>
          <label>Peers served at once<input type="number" min="1" max="256" data-testid="opt-peers" value={draft.maxPeers} onInput={field('maxPeers')} /></label>
        </div>
      </section>

      <section class="card" style={{ display: 'grid', gap: '10px' }}>
        <h2>Cache</h2>
        <div class="spread">
          <label style={{ flex: 1 }}>Cache cap (MiB)<input type="number" min="16" data-testid="opt-cache" value={draft.cacheMiB} onInput={field('cacheMiB')} /></label>
          <div class="muted" style={{ flex: 1, textAlign: 'right' }}>Using {formatBytes(status?.cache.usedBytes ?? 0)} in {status?.cache.blocks ?? 0} blocks</div>
        </div>
        <div class="muted">Only encrypted chunks are cached; the least recently used go first when the cap is reached.</div>
      </section>

      <section class="card" style={{ display: 'grid', gap: '10px' }}>
        <h2>Network</h2>
        <label>Relays (multiaddrs ending in /p2p/&lt;peer id&gt;, one per line)<textarea data-testid="opt-relays" value={draft.relays} onInput={field('relays')} /></label>
        <label>Routing endpoints (Delegated Routing V1, one URL per line)<textarea value={draft.routers} onInput={field('routers')} /></label>
        <label>Origin gateways (used when no peer has a block, one URL per line)<textarea value={draft.gateways} onInput={field('gateways')} /></label>
        <label>ICE servers (JSON)<textarea value={draft.iceServers} onInput={field('iceServers')} /></label>
      </section>

      <section class="card" style={{ display: 'grid', gap: '10px' }}>
        <h2>Rewards and gated content</h2>
        <label>Chain JSON-RPC URL<input data-testid="opt-rpc" value={draft.rpcUrl} onInput={field('rpcUrl')} placeholder="http://127.0.0.1:8545" /></label>
        <div class="row">
          <label style={{ flex: 1 }}>Chain id<input type="number" min="1" data-testid="opt-chain-id" value={draft.chainId} onInput={field('chainId')} /></label>
          <label style={{ flex: 1 }}>Epoch (seconds)<input type="number" min="2" value={draft.epochSeconds} onInput={field('epochSeconds')} /></label>
        </div>
        <label>RewardPool address<input class="mono" data-testid="opt-pool" value={draft.rewardPool} onInput={field('rewardPool')} placeholder="0x…" /></label>
        <label>ContentRegistry address<input class="mono" value={draft.contentRegistry} onInput={field('contentRegistry')} placeholder="0x…" /></label>
        <label>Payout address (empty: this node's address)<input class="mono" value={draft.payoutAddress} onInput={field('payoutAddress')} placeholder="0x…" /></label>
        <label>Key services for gated content (origin URLs, one per line; empty: the gateways)<textarea value={draft.keyServices} onInput={field('keyServices')} /></label>
        <div class="muted">Claims are sent from this node's address, which needs a little ETH for gas. Receipts are kept until a claim succeeds, across restarts.</div>
      </section>

      <div class="row">
        <button class="primary" data-testid="opt-save" disabled={busy} onClick={() => { void act(async () => { setDraft(toDraft(await nodeClient.updateSettings(fromDraft(draft)))); await load() }, 'Saved. The node applied the new settings.') }}>Save</button>
        <button disabled={busy} onClick={() => { void load() }}>Revert</button>
      </div>

      <section class="card" style={{ display: 'grid', gap: '8px' }}>
        <h2>Identity</h2>
        <div class="spread"><span class="muted">Peer ID</span><span class="mono">{status?.peerId}</span></div>
        <div class="spread"><span class="muted">Address</span><span class="mono">{status?.address}</span></div>
        <div class="muted">One key is both your peer id and the address your rewards are paid to. Resetting it creates a new one; the old address's unclaimed rewards stay with the old key.</div>
        <div class="row">
          <button class="danger" disabled={busy} data-testid="opt-reset-identity" onClick={() => {
            if (!confirm('Create a new identity? Your peer id and address will change.')) return
            void act(async () => { await nodeClient.resetIdentity(); await load() }, 'A new identity was created.')
          }}>Reset identity</button>
          <button class="danger" disabled={busy} data-testid="opt-clear-cache" onClick={() => {
            if (!confirm('Delete every cached chunk?')) return
            void act(async () => { await nodeClient.clearCache(); await load() }, 'The cache is empty.')
          }}>Clear cache</button>
        </div>
      </section>

      <PermittedSites />

      <section class="card">
        <h2>Served to</h2>
        {clients.length === 0
          ? <div class="muted">Nothing served yet.</div>
          : (
            <table>
              <thead><tr><th>Peer</th><th>Bytes</th><th>Blocks</th><th>Last</th></tr></thead>
              <tbody>{clients.map(c => <tr key={c.client}><td class="mono" title={c.client}>{shortId(c.client)}</td><td>{formatBytes(c.bytes)}</td><td>{c.blocks}</td><td>{ago(c.lastAt)}</td></tr>)}</tbody>
            </table>
            )}
      </section>
    </main>
  )
}
