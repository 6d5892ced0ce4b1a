/** The popup's earnings card: rewards pending, claims submitted and paid, with transaction hashes. */
import { useState } from 'preact/hooks'
import { formatUnits } from 'ethers'
import type { Earnings as EarningsData } from '../rewards/index.ts'
import { callNode } from './node-client.ts'
import { usePolling } from './use-polling.ts'
import { formatBytes, shortId } from './format.ts'

/** How often the card refreshes, ms. @default 2000 */
const REFRESH_MS = 2000

function tokens (baseUnits: string): string {
  const value = formatUnits(BigInt(baseUnits), 18)
  // tiny devnet rewards: show them in full rather than as 0.0
  return `${value.replace(/\.0$/, '')} LOOM`
}

export function Earnings () {
  const [data, setData] = useState<EarningsData & { epoch: string }>()
  const [error, setError] = useState<string>()
  const [claiming, setClaiming] = useState(false)

  usePolling(async () => { setData(await callNode<EarningsData & { epoch: string }>('earnings')) }, REFRESH_MS, setError)

  const claim = async (): Promise<void> => {
    setClaiming(true)
    try {
      setData(await callNode<EarningsData & { epoch: string }>('claimRewards'))
    } catch (err) {
      setError((err as Error).message)
    } finally {
      setClaiming(false)
    }
  }

  return (
    <section class="card" data-testid="earnings">
      <div class="spread" style={{ marginBottom: '4px' }}>
        <h2 style={{ margin: 0 }}>Earnings</h2>
        <span class="mono" data-testid="earnings-total" title="tokens paid to this node">{data === undefined ? '…' : tokens(data.totalPaid)}</span>
      </div>
      <div class="spread">
        <span class="muted">Pending</span>
        <span data-testid="earnings-pending">{data === undefined ? '…' : `${formatBytes(Number(data.pending.bytes))} in ${data.pending.receipts} receipt(s)`}</span>
      </div>
      {data?.submitted.map(s => (
        <div class="spread" key={s.txHash} data-testid="earnings-submitted">
          <span class="muted">Submitted</span>
          <span class="mono" title={s.txHash}>{formatBytes(Number(s.bytes))} · {shortId(s.txHash, 6)}</span>
        </div>
      ))}
      {data?.paid.slice(0, 3).map(p => (
        <div class="spread" key={p.epoch} data-testid="earnings-paid">
          <span class="muted">Paid</span>
          <span class="mono" title={p.txHash}>{tokens(p.paid)} for {formatBytes(Number(p.claimedBytes ?? p.bytes))}{p.txHash === undefined ? '' : ` · ${shortId(p.txHash, 6)}`}</span>
        </div>
      ))}
      {(data?.lastError ?? error) !== undefined && <div class="error">{data?.lastError ?? error} <span class="muted">(retried automatically)</span></div>}
      <div class="spread">
        <span class="muted">Epoch {data?.epoch ?? '…'}</span>
        <button data-testid="claim-now" disabled={claiming || data === undefined || data.pending.receipts === 0} onClick={() => { void claim() }}>{claiming ? 'Claiming…' : 'Claim now'}</button>
      </div>
    </section>
  )
}
