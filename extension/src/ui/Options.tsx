/** Options: donation caps, cache cap, network (relays, routers, gateways, ICE), rewards, identity and cache resets, sites. */
import { useEffect, useRef, useState } from 'preact/hooks'
import type { ComponentChildren } from 'preact'
import { nodeClient } from './node-client.ts'
import type { ClientUsage } from './node-client.ts'
import { useNodeEvents } from './use-node-events.ts'
import { ago, count, formatBytes, shortId } from './format.ts'
import { fieldOfNodeError, fromDraft, toDraft } from './settings-form.ts'
import type { Draft, DraftErrors, DraftField } from './settings-form.ts'
import { PermittedSites } from '../page-api/ui/PermittedSites.tsx'
import { Logo } from './Logo.tsx'

/** What each field is called in the summary next to Save. */
const FIELD_LABELS: Record<DraftField, string> = {
  donate: 'Sharing',
  uploadMiB: 'Upload rate cap',
  maxPeers: 'Peers served at once',
  cacheMiB: 'Cache cap',
  relays: 'Relays',
  routers: 'Routing endpoints',
  gateways: 'Origin gateways',
  iceServers: 'ICE servers',
  rpcUrl: 'Chain JSON-RPC URL',
  chainId: 'Chain id',
  rewardPool: 'RewardPool address',
  contentRegistry: 'ContentRegistry address',
  payoutAddress: 'Payout address',
  keyServices: 'Key services',
  epochSeconds: 'Epoch length',
  mediaForward: 'Forwarding calls',
  mediaMaxStreams: 'Streams forwarded at once',
  mediaUploadMiB: 'Forwarding upload cap'
}

/** A labelled input with its hint and, when the value is wrong, the problem right under it. */
function Field ({ label, hint, error, testId, children }: { label: string, hint?: ComponentChildren, error?: string, testId?: string, children: ComponentChildren }) {
  return (
    <label class={`field${error === undefined ? '' : ' invalid'}`}>
      <span class="field-label">{label}</span>
      {children}
      {error !== undefined && <span class="field-error" role="alert" data-testid={testId === undefined ? undefined : `${testId}-error`}>{error}</span>}
      {hint !== undefined && <span class="hint">{hint}</span>}
    </label>
  )
}

/** An on/off setting: its name and what it means on the left, the switch on the right. */
function Switch ({ label, testId, checked, onChange, children }: { label: string, testId: string, checked: boolean, onChange: (on: boolean) => void, children: ComponentChildren }) {
  return (
    <label class="spread">
      <span>
        <span style={{ fontWeight: 600 }}>{label}</span>
        <span class="hint" style={{ display: 'block' }}>{children}</span>
      </span>
      <span class="switch"><input type="checkbox" data-testid={testId} checked={checked} onChange={e => { onChange((e.target as HTMLInputElement).checked) }} /><span /></span>
    </label>
  )
}

export function Options () {
  const [draft, setDraft] = useState<Draft>()
  // the form as the node last confirmed it, to tell the user what is not saved yet
  const [saved, setSaved] = useState<Draft>()
  const [errors, setErrors] = useState<DraftErrors>({})
  const [view] = useNodeEvents()
  const status = view.status
  const [clients, setClients] = useState<ClientUsage[]>([])
  const [message, setMessage] = useState<{ tone: 'good' | 'bad', text: string }>()
  const [busy, setBusy] = useState(false)
  // after a refused Save, the first field named wrong is brought into view once it is drawn
  const showFirstInvalid = useRef(false)
  useEffect(() => {
    if (!showFirstInvalid.current) return
    showFirstInvalid.current = false
    const first = document.querySelector<HTMLElement>('.field.invalid input, .field.invalid textarea')
    first?.focus({ preventScroll: true })
    first?.scrollIntoView({ block: 'center' })
  }, [errors])

  // the form follows the node's settings (the popup may change sharing) while it holds no edits of its own
  useEffect(() => {
    if (view.settings === undefined) return
    const next = toDraft(view.settings)
    if (draft === undefined || JSON.stringify(draft) === JSON.stringify(saved)) {
      setDraft(next)
      setErrors({})
    }
    setSaved(next)
  }, [view.settings])
  // the table of clients is read again when the bytes served change
  const servedBytes = status?.served.bytes
  useEffect(() => {
    if (servedBytes === undefined) return
    nodeClient.servedClients().then(setClients, (err: Error) => { setMessage({ tone: 'bad', text: err.message }) })
  }, [servedBytes])
  const loaded = draft !== undefined
  // a link to a section (the consent prompt's to #sites) lands there once the form is drawn
  useEffect(() => { if (loaded && location.hash.length > 1) document.getElementById(location.hash.slice(1))?.scrollIntoView() }, [loaded])

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

  if (draft === undefined) return <main class="page">{message?.text ?? view.problem ?? 'Loading…'}</main>
  const set = (patch: Partial<Draft>): void => {
    setDraft({ ...draft, ...patch })
    // an edited field's old problem no longer applies
    const cleared = { ...errors }
    for (const key of Object.keys(patch) as DraftField[]) delete cleared[key]
    setErrors(cleared)
  }
  const input = (key: DraftField) => ({
    value: String(draft[key]),
    onInput: (e: Event) => { set({ [key]: (e.target as HTMLInputElement).value }) },
    'aria-invalid': errors[key] !== undefined
  })

  const save = async (): Promise<void> => {
    setMessage(undefined)
    const checked = fromDraft(draft)
    if (checked.errors !== undefined) {
      showFirstInvalid.current = true
      setErrors(checked.errors)
      return
    }
    setBusy(true)
    try {
      const applied = toDraft(await nodeClient.updateSettings(checked.settings))
      setDraft(applied)
      setSaved(applied)
      setMessage({ tone: 'good', text: 'Saved. The node applied the new settings.' })
    } catch (err) {
      const placed = fieldOfNodeError(err as Error & { data?: Record<string, unknown> })
      if (placed !== undefined) {
        showFirstInvalid.current = true
        setErrors({ [placed.field]: placed.message })
      } else setMessage({ tone: 'bad', text: (err as Error).message })
    } finally {
      setBusy(false)
    }
  }
  const invalid = Object.keys(errors) as DraftField[]
  const unsaved = JSON.stringify(draft) !== JSON.stringify(saved)

  return (
    <main class="page">
      <header class="row" style={{ gap: '10px' }}>
        <Logo size={28} />
        <h1 style={{ fontSize: '20px', flex: 1 }}>Peerloom options</h1>
        <a href="/onboarding.html" target="_blank">What is Peerloom?</a>
      </header>

      <section class="card form" id="sharing">
        <h2>Sharing</h2>
        <Switch label="Serve cached content to other viewers" testId="opt-donate" checked={draft.donate} onChange={donate => { set({ donate }) }}>
          Off until you turn it on. While off, nothing of yours is sent to anyone.
        </Switch>
        <div class="grid2">
          <Field label="Upload rate cap (MiB/s)" error={errors.uploadMiB} testId="opt-upload" hint="At least 0.016 MiB/s.">
            <input type="number" min="0.016" step="0.5" data-testid="opt-upload" {...input('uploadMiB')} />
          </Field>
          <Field label="Peers served at once" error={errors.maxPeers} testId="opt-peers" hint="1 to 256.">
            <input type="number" min="1" max="256" data-testid="opt-peers" {...input('maxPeers')} />
          </Field>
        </div>
      </section>

      <section class="card form" id="calls">
        <h2>Calls (media role)</h2>
        <Switch label="Forward other people's calls" testId="opt-media-forward" checked={draft.mediaForward} onChange={mediaForward => { set({ mediaForward }) }}>
          Off until you turn it on, like sharing. While on, your browser passes the audio and video of calls it is not in
          between their participants, within the caps below.
        </Switch>
        <div class="grid2">
          <Field label="Forwarding upload cap (MiB/s)" error={errors.mediaUploadMiB} testId="opt-media-upload" hint="At least 0.063 MiB/s (64 KiB/s); apart from the sharing cap.">
            <input type="number" min="0.0625" step="0.5" data-testid="opt-media-upload" {...input('mediaUploadMiB')} />
          </Field>
          <Field label="Streams forwarded at once" error={errors.mediaMaxStreams} testId="opt-media-streams" hint="1 to 256. A stream is one participant's audio or video to one other participant.">
            <input type="number" min="1" max="256" data-testid="opt-media-streams" {...input('mediaMaxStreams')} />
          </Field>
        </div>
        <div class="hint" data-testid="opt-media-help">
          Forwarded media is end-to-end encrypted: your browser passes ciphertext it cannot decrypt, so it never sees or hears
          the calls. It forwards no more streams and uses no more upload than these caps; a call that would go past them is
          sent to another forwarder. In gated rooms, participants sign receipts for the bytes you forward, as for shared content.
        </div>
      </section>

      <section class="card form">
        <h2>Cache</h2>
        <div class="grid2">
          <Field label="Cache cap (MiB)" error={errors.cacheMiB} testId="opt-cache" hint="At least 16 MiB.">
            <input type="number" min="16" data-testid="opt-cache" {...input('cacheMiB')} />
          </Field>
          <div class="muted" style={{ alignSelf: 'center' }} data-testid="opt-cache-usage">
            Using {formatBytes(status?.cache.usedBytes ?? 0)} in {count(status?.cache.blocks ?? 0, 'block')}
          </div>
        </div>
        <div class="hint">Only encrypted chunks are cached; the least recently used go first when the cap is reached.</div>
      </section>

      <section class="card form">
        <h2>Network</h2>
        <Field label="Relays" hint={<>Multiaddrs ending in <span class="mono">/p2p/&lt;peer id&gt;</span>, one per line.</>} error={errors.relays} testId="opt-relays">
          <textarea data-testid="opt-relays" {...input('relays')} />
        </Field>
        <Field label="Routing endpoints" hint="Delegated Routing V1 URLs, one per line." error={errors.routers} testId="opt-routers">
          <textarea data-testid="opt-routers" {...input('routers')} />
        </Field>
        <Field label="Origin gateways" hint="Asked when no peer has a block; one URL per line." error={errors.gateways} testId="opt-gateways">
          <textarea data-testid="opt-gateways" {...input('gateways')} />
        </Field>
        <Field label="ICE servers (JSON)" hint={<>For example <span class="mono">[{'{'}"urls": "stun:stun.example.org:3478"{'}'}]</span>.</>} error={errors.iceServers} testId="opt-ice">
          <textarea data-testid="opt-ice" {...input('iceServers')} />
        </Field>
      </section>

      <section class="card form">
        <h2>Rewards and gated content</h2>
        <Field label="Chain JSON-RPC URL" error={errors.rpcUrl} testId="opt-rpc">
          <input type="text" data-testid="opt-rpc" placeholder="http://127.0.0.1:8545" {...input('rpcUrl')} />
        </Field>
        <div class="grid2">
          <Field label="Chain id" error={errors.chainId} testId="opt-chain-id">
            <input type="number" min="1" data-testid="opt-chain-id" {...input('chainId')} />
          </Field>
          <Field label="Epoch length (seconds)" error={errors.epochSeconds} testId="opt-epoch" hint="Receipts are claimed once an epoch ends.">
            <input type="number" min="2" data-testid="opt-epoch" {...input('epochSeconds')} />
          </Field>
        </div>
        <Field label="RewardPool address" error={errors.rewardPool} testId="opt-pool">
          <input type="text" class="mono" spellcheck={false} data-testid="opt-pool" placeholder="0x…" {...input('rewardPool')} />
        </Field>
        <Field label="ContentRegistry address" error={errors.contentRegistry} testId="opt-registry">
          <input type="text" class="mono" spellcheck={false} data-testid="opt-registry" placeholder="0x…" {...input('contentRegistry')} />
        </Field>
        <Field label="Payout address" hint="Leave empty to be paid at this node's own address." error={errors.payoutAddress} testId="opt-payout">
          <input type="text" class="mono" spellcheck={false} data-testid="opt-payout" placeholder="0x…" {...input('payoutAddress')} />
        </Field>
        <Field label="Key services for gated content" hint="Origin URLs, one per line; empty: the origin gateways." error={errors.keyServices} testId="opt-keys">
          <textarea data-testid="opt-keys" {...input('keyServices')} />
        </Field>
        <div class="hint">Claims are sent from this node's address, which needs a little ETH for gas. Receipts are kept until a claim succeeds, across restarts.</div>
      </section>

      <div class="save-bar" data-testid="save-bar">
        <div class="row">
          <button class="primary" data-testid="opt-save" disabled={busy} onClick={() => { void save() }}>Save</button>
          <button disabled={busy} onClick={() => { setDraft(saved); setErrors({}); setMessage(undefined) }}>Revert</button>
          {invalid.length === 0 && unsaved && <span class="hint" data-testid="opt-unsaved">Unsaved changes</span>}
          {invalid.length > 0 && (
            <span class="field-error" role="alert" data-testid="opt-save-errors">
              Not saved: fix {invalid.length === 1 ? FIELD_LABELS[invalid[0] as DraftField] : `${invalid.length} fields (${invalid.map(f => FIELD_LABELS[f]).join(', ')})`}.
            </span>
          )}
        </div>
        {message !== undefined && <div class={message.tone === 'bad' ? 'error' : 'notice'} data-testid="options-message">{message.text}</div>}
      </div>

      <section class="card form">
        <h2>Identity</h2>
        <div class="spread"><span class="muted">Peer ID</span><span class="mono wrap" data-testid="opt-peer-id">{status?.peerId}</span></div>
        <div class="spread"><span class="muted">Address</span><span class="mono wrap" data-testid="opt-address">{status?.address}</span></div>
        <div class="hint">One key is both your peer id and the address your rewards are paid to. Resetting it creates a new one; the old address's unclaimed rewards stay with the old key.</div>
        <div class="row">
          <button class="danger" disabled={busy} data-testid="opt-reset-identity" onClick={() => {
            if (!confirm('Create a new identity? Your peer id and address will change.')) return
            void act(async () => { await nodeClient.resetIdentity() }, 'A new identity was created.')
          }}>Reset identity</button>
          <button class="danger" disabled={busy} data-testid="opt-clear-cache" onClick={() => {
            if (!confirm('Delete every cached chunk?')) return
            void act(async () => { await nodeClient.clearCache() }, 'The cache is empty.')
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
