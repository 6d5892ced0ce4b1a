/**
 * The popup's earnings card: receipted bytes waiting for a claim, claims submitted and paid,
 * with transaction hashes, and the open epoch as a time range.
 */
import { useState } from 'preact/hooks'
import { formatUnits } from 'ethers'
import { nodeClient } from './node-client.ts'
import type { NodeEarnings } from './node-client.ts'
import { count, formatBytes, formatEpoch, shortId } from './format.ts'

function tokens (baseUnits: string): string {
  const value = formatUnits(BigInt(baseUnits), 18)
  // tiny devnet rewards: show them in full rather than as 0.0
  return `${value.replace(/\.0$/, '')} LOOM`
}

/**
 * `data`: the earnings as the node's events last told them; `epochSeconds`: the epoch length
 * from settings, to show when the open epoch ends; `onClaimed`: what a claim answered.
 */
export function Earnings ({ data, epochSeconds, onClaimed }: { data: NodeEarnings | undefined, epochSeconds: number | undefined, onClaimed: (earnings: NodeEarnings) => void }) {
  const [error, setError] = useState<string>()
  const [claiming, setClaiming] = useState(false)

  const claim = async (): Promise<void> => {
    setClaiming(true)
    setError(undefined)
    try {
      onClaimed(await nodeClient.claimRewards())
    } catch (err) {
      setError((err as Error).message)
    } finally {
      setClaiming(false)
    }
  }

  const epochText = (epoch: string): string => epochSeconds === undefined ? '…' : formatEpoch(epoch, epochSeconds)

  return (
    <section class="card" data-testid="earnings" style={{ display: 'grid', gap: '4px' }}>
      <div class="spread">
        <h2 style={{ margin: 0 }}>Earnings</h2>
        <span class="mono" data-testid="earnings-total" title="tokens paid to this node so far">{data === undefined ? '…' : tokens(data.totalPaid)}</span>
      </div>
      <div class="spread">
        <span class="muted" title="bytes the receiving peers signed for and that can be claimed">Receipted, to claim</span>
        <span data-testid="earnings-pending">{data === undefined ? '…' : `${formatBytes(Number(data.pending.bytes))} in ${count(data.pending.receipts, 'receipt')}`}</span>
      </div>
      <div class="hint" data-testid="earnings-help">
        Served counts the bytes your node sent. Receipted counts the bytes the receiving peers signed for: only those can be claimed.
      </div>
      {data?.submitted.map(s => (
        <div class="spread" key={s.txHash} data-testid="earnings-submitted">
          <span class="muted" title={`epoch ${s.epoch}`}>Claim sent · {epochText(s.epoch)}</span>
          <span class="mono" title={s.txHash}>{formatBytes(Number(s.bytes))} · {shortId(s.txHash, 6)}</span>
        </div>
      ))}
      {data?.paid.slice(0, 3).map(p => (
        <div class="spread" key={p.epoch} data-testid="earnings-paid">
          <span class="muted" title={`epoch ${p.epoch}`}>Paid · {epochText(p.epoch)}</span>
          <span class="mono" title={p.txHash}>{tokens(p.paid)} for {formatBytes(Number(p.claimedBytes ?? p.bytes))}{p.txHash === undefined ? '' : ` · ${shortId(p.txHash, 6)}`}</span>
        </div>
      ))}
      {data?.claim?.state === 'retrying'
        ? <div class="error" data-testid="earnings-claim-status" title={`error ${data.claim.code ?? ''}; receipts stay on this device until they are paid`}>{data.claim.message}</div>
        : (data?.lastError ?? error) !== undefined && <div class="error">{data?.lastError ?? error}</div>}
      <div class="spread">
        <span class="muted" data-testid="earnings-epoch" title={data === undefined ? undefined : `epoch ${data.epoch}; claimed when it ends, or earlier once its receipts are large`}>
          This epoch: {data === undefined ? '…' : epochText(data.epoch)}
        </span>
        <button data-testid="claim-now" title="Close this epoch now and claim its receipts" disabled={claiming || data === undefined || data.pending.receipts === 0} onClick={() => { void claim() }}>{claiming ? 'Claiming…' : 'Claim now'}</button>
      </div>
    </section>
  )
}
