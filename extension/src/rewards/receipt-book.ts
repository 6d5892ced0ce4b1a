/**
 * The server's receipt book: the latest cumulative receipt per (epoch, content, client), and
 * this server's epochs. Receipts are accepted only for the open epoch; closing it (at its end
 * or past the claim threshold) opens the next, so a claimed epoch never changes. Everything
 * is in IndexedDB before a receipt is acknowledged, so a restart loses nothing.
 */
import { nextEpoch } from '@peerloom/shared'
import type { SignedReceipt } from '@peerloom/shared'
import type { SignedReceiptWithGrant } from '@peerloom/contracts/claim'
import type { RewardsDb, StoredEpoch, StoredReceipt } from './rewards-db.ts'
import type { ClaimStatus } from './claimer.ts'

const CURRENT = 'currentEpoch'

/** What the popup shows. */
export interface Earnings {
  /** Receipted bytes not yet claimed: the open epoch and closed ones waiting for their claim. */
  pending: { bytes: string, receipts: number, epochs: number }
  /** Claims sent and not yet confirmed. */
  submitted: Array<{ epoch: string, bytes: string, txHash: string }>
  /** Claims mined, newest first. */
  paid: Array<{ epoch: string, bytes: string, paid: string, claimedBytes?: string, txHash?: string, paidAt?: number }>
  /** Tokens (base units) paid in total. */
  totalPaid: string
  /** The newest failure of a pending epoch; while claims wait for the chain, the claim status's message. */
  lastError?: string
  /** Whether claims wait for the chain, why (with an error code) and when they are retried; set by `Rewards.earnings`. */
  claim?: ClaimStatus
}

export class ReceiptBook {
  private readonly db: RewardsDb
  private current?: StoredEpoch
  /** Serialises writes: a receipt is checked against the epoch it is stored in. */
  private queue: Promise<unknown> = Promise.resolve()

  private readonly onChange: () => void

  /** `onChange`: called after each write (a receipt, an epoch opened, closed or settled). */
  constructor (db: RewardsDb, onChange: () => void = () => {}) {
    this.db = db
    this.onChange = onChange
  }

  private async serial<T> (task: () => Promise<T>): Promise<T> {
    const run = this.queue.then(task, task)
    this.queue = run.catch(() => {})
    try {
      return await run
    } finally {
      this.onChange()
    }
  }

  /** Loads the open epoch, opening one if there is none. */
  async start (now = Date.now()): Promise<void> {
    await this.serial(async () => {
      const number = await this.db.get('kv', CURRENT) as string | undefined
      const stored = number === undefined ? undefined : await this.db.get('epochs', number)
      this.current = stored ?? await this.open(undefined, now)
    })
  }

  private async open (previous: bigint | undefined, now: number): Promise<StoredEpoch> {
    const epoch: StoredEpoch = { epoch: nextEpoch(previous, now).toString(), status: 'open', openedAt: now, bytes: '0', receipts: 0, attempts: 0 }
    const tx = this.db.transaction(['epochs', 'kv'], 'readwrite')
    await tx.objectStore('epochs').put(epoch)
    await tx.objectStore('kv').put(epoch.epoch, CURRENT)
    await tx.done
    return epoch
  }

  /** The open epoch: receipts must name it. */
  get epoch (): bigint {
    if (this.current === undefined) throw new Error('the receipt book is not started')
    return BigInt(this.current.epoch)
  }

  /**
   * Stores a verified receipt if it names the open epoch and raises the client's cumulative
   * bytes; returns the epoch it counts in, or the open epoch when it named another.
   */
  async accept (signed: SignedReceipt, now = Date.now()): Promise<{ accepted: boolean, epoch: bigint }> {
    return await this.serial(async () => {
      const current = this.current as StoredEpoch
      if (signed.receipt.epoch.toString() !== current.epoch) return { accepted: false, epoch: BigInt(current.epoch) }
      const { receipt, grant } = signed
      const id = `${current.epoch}/${receipt.contentId}/${receipt.client}`
      const tx = this.db.transaction(['receipts', 'epochs'], 'readwrite')
      const existing = await tx.objectStore('receipts').get(id)
      const before = existing === undefined ? 0n : BigInt(existing.bytes)
      if (receipt.bytes > before) {
        const stored: StoredReceipt = {
          id,
          epoch: current.epoch,
          contentId: receipt.contentId,
          client: receipt.client,
          bytes: receipt.bytes.toString(),
          signature: signed.signature,
          grant: { client: grant.client, contentId: grant.contentId, maxBytes: grant.maxBytes.toString(), expiry: grant.expiry.toString() },
          grantSignature: signed.grantSignature,
          receivedAt: now
        }
        const next: StoredEpoch = { ...current, bytes: (BigInt(current.bytes) + receipt.bytes - before).toString(), receipts: current.receipts + (existing === undefined ? 1 : 0) }
        await tx.objectStore('receipts').put(stored)
        await tx.objectStore('epochs').put(next)
        await tx.done
        this.current = next
      } else {
        await tx.done
      }
      return { accepted: true, epoch: BigInt(current.epoch) }
    })
  }

  /** Whether the open epoch should be closed: it has receipts and it ended or passed the threshold. */
  due (epochSeconds: number, thresholdBytes: number, now = Date.now()): boolean {
    const current = this.current
    if (current === undefined || current.receipts === 0) return false
    return now - current.openedAt >= epochSeconds * 1000 || BigInt(current.bytes) >= BigInt(thresholdBytes)
  }

  /** Closes the open epoch (to be claimed) and opens the next. */
  async close (now = Date.now()): Promise<void> {
    await this.serial(async () => {
      const current = this.current as StoredEpoch
      if (current.receipts === 0) return
      await this.db.put('epochs', { ...current, status: 'closed', closedAt: now })
      this.current = await this.open(BigInt(current.epoch), now)
    })
  }

  /** Closed epochs waiting for (or retrying) their claim, and submitted ones to confirm, oldest first. */
  async unsettled (): Promise<StoredEpoch[]> {
    const all = await this.db.getAll('epochs')
    return all.filter(e => e.status === 'closed' || e.status === 'submitted').sort((a, b) => compare(a.epoch, b.epoch))
  }

  /** The receipts of an epoch in the form `buildClaim` takes. */
  async receiptsOf (epoch: string): Promise<Array<SignedReceiptWithGrant & { id: string }>> {
    const stored = await this.db.getAllFromIndex('receipts', 'epoch', epoch)
    return stored.map(r => ({
      id: r.id,
      receipt: { server: '', client: r.client, contentId: r.contentId, epoch: BigInt(r.epoch), bytes: BigInt(r.bytes) },
      signature: r.signature,
      grant: { client: r.grant.client, contentId: r.grant.contentId, maxBytes: BigInt(r.grant.maxBytes), expiry: BigInt(r.grant.expiry) },
      grantSignature: r.grantSignature
    }))
  }

  /** Drops a receipt the pool refused (its claim is then retried without it). */
  async drop (epoch: string, contentId: string, client: string, why: string): Promise<void> {
    await this.serial(async () => {
      const id = `${epoch}/${contentId.toLowerCase()}/${client}`
      const tx = this.db.transaction(['receipts', 'epochs'], 'readwrite')
      const receipt = await tx.objectStore('receipts').get(id)
      const stored = await tx.objectStore('epochs').get(epoch)
      if (receipt !== undefined && stored !== undefined) {
        await tx.objectStore('receipts').delete(id)
        await tx.objectStore('epochs').put({ ...stored, bytes: (BigInt(stored.bytes) - BigInt(receipt.bytes)).toString(), receipts: stored.receipts - 1, lastError: why })
      }
      await tx.done
    })
  }

  /** Records a change to an epoch's claim. */
  async update (epoch: string, patch: Partial<StoredEpoch>): Promise<void> {
    await this.serial(async () => {
      const stored = await this.db.get('epochs', epoch)
      if (stored === undefined) return
      await this.db.put('epochs', { ...stored, ...patch })
    })
  }

  /** Pending, submitted and paid, for the popup. */
  async earnings (): Promise<Earnings> {
    const all = (await this.db.getAll('epochs')).sort((a, b) => compare(b.epoch, a.epoch))
    let pendingBytes = 0n
    let pendingReceipts = 0
    let pendingEpochs = 0
    let totalPaid = 0n
    const submitted: Earnings['submitted'] = []
    const paid: Earnings['paid'] = []
    let lastError: string | undefined
    for (const e of all) {
      if (e.status === 'open' || e.status === 'closed') {
        if (e.receipts === 0) continue
        pendingBytes += BigInt(e.bytes)
        pendingReceipts += e.receipts
        pendingEpochs++
        lastError ??= e.lastError
      } else if (e.status === 'submitted') {
        submitted.push({ epoch: e.epoch, bytes: e.bytes, txHash: e.txHash ?? '' })
      } else {
        totalPaid += BigInt(e.paid ?? '0')
        paid.push({ epoch: e.epoch, bytes: e.bytes, paid: e.paid ?? '0', ...(e.claimedBytes === undefined ? {} : { claimedBytes: e.claimedBytes }), ...(e.txHash === undefined ? {} : { txHash: e.txHash }), ...(e.paidAt === undefined ? {} : { paidAt: e.paidAt }) })
      }
    }
    return { pending: { bytes: pendingBytes.toString(), receipts: pendingReceipts, epochs: pendingEpochs }, submitted, paid, totalPaid: totalPaid.toString(), ...(lastError === undefined ? {} : { lastError }) }
  }
}

function compare (a: string, b: string): number {
  const x = BigInt(a)
  const y = BigInt(b)
  return x < y ? -1 : x > y ? 1 : 0
}
