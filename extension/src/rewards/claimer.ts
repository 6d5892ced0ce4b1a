/**
 * Claims this server's closed epochs from the RewardPool with ethers: closes the open epoch at
 * its end (or past the byte threshold), builds each closed epoch's claim with `buildClaim`,
 * sends `claim(epoch, payee, claims)` from the node's own key and records the transaction and
 * what it paid. When the chain is unreachable nothing changes but the error shown: the epoch
 * stays closed and is tried again on the next tick, after a restart too. A receipt the pool
 * refuses (its error names client and content) is dropped and the rest claimed again.
 */
import { Contract, JsonRpcProvider, getAddress } from 'ethers'
import type { Wallet } from 'ethers'
import { buildClaim } from '@peerloom/contracts/claim'
import poolAbi from '@peerloom/shared/abi/RewardPool.json'
import type { NodeSettings } from '@peerloom/shared'
import type { ReceiptBook } from './receipt-book.ts'
import type { StoredEpoch } from './rewards-db.ts'

/** How often the claimer looks at the epochs. @default 5_000 */
export const CLAIM_TICK_MS = 5_000
/** A submitted claim not mined after this long is sent again. @default 120_000 */
export const RESUBMIT_AFTER_MS = 120_000
/** Receipts whose grant expires sooner than this are not claimed (the claim could be mined after it). @default 60 */
export const GRANT_EXPIRY_MARGIN_SECONDS = 60n

export interface ClaimerComponents {
  book: ReceiptBook
  settings: () => NodeSettings
  /** The node's identity key: the server that claims. */
  signer: () => Wallet
  now?: () => number
  onError?: (err: unknown) => void
}

interface Chain {
  provider: JsonRpcProvider
  pool: Contract
  server: string
}

/** The revert data of a failed call or estimate, wherever ethers put it. */
function revertData (err: unknown): string | undefined {
  const e = err as { data?: unknown, info?: { error?: { data?: unknown } }, error?: { data?: unknown } }
  for (const candidate of [e.data, e.info?.error?.data, e.error?.data]) {
    if (typeof candidate === 'string' && candidate.startsWith('0x') && candidate.length >= 10) return candidate
  }
  return undefined
}

function describe (err: unknown): string {
  return (err as { shortMessage?: string }).shortMessage ?? (err as Error).message ?? String(err)
}

export class Claimer {
  private readonly components: ClaimerComponents
  private timer?: ReturnType<typeof setInterval>
  private running: Promise<void> = Promise.resolve()
  /** One provider per chain configuration, reused across passes. */
  private cached?: { key: string, chain: Chain }

  constructor (components: ClaimerComponents) {
    this.components = components
  }

  start (): void {
    this.timer ??= setInterval(() => { void this.tick() }, Math.min(CLAIM_TICK_MS, Math.max(1000, this.components.settings().epochSeconds * 250)))
  }

  stop (): void {
    clearInterval(this.timer)
    this.timer = undefined
  }

  private now (): number {
    return this.components.now?.() ?? Date.now()
  }

  /** One pass: close the epoch if due, then claim or confirm every unsettled epoch. Never throws. */
  async tick (options: { closeNow?: boolean } = {}): Promise<void> {
    const run = this.running.then(async () => { await this.pass(options) })
    this.running = run.catch(() => {})
    await run
  }

  private async pass (options: { closeNow?: boolean }): Promise<void> {
    const { book } = this.components
    const settings = this.components.settings()
    try {
      if (options.closeNow === true || book.due(settings.epochSeconds, settings.claimThresholdBytes, this.now())) await book.close(this.now())
    } catch (err) {
      this.components.onError?.(err)
      return
    }
    const chain = this.chain(settings)
    if (chain === undefined) return
    for (const epoch of await book.unsettled()) {
      try {
        if (epoch.status === 'submitted') await this.confirm(chain, epoch)
        else await this.claim(chain, epoch, settings)
      } catch (err) {
        await book.update(epoch.epoch, { lastError: describe(err), attempts: epoch.attempts + 1 })
        this.components.onError?.(err)
      }
    }
  }

  private chain (settings: NodeSettings): Chain | undefined {
    if (settings.rpcUrl === undefined || settings.rewardPool === undefined || settings.chainId === undefined) return undefined
    const key = `${settings.rpcUrl} ${settings.chainId} ${settings.rewardPool} ${this.components.signer().address}`
    if (this.cached?.key === key) return this.cached.chain
    const chain = this.connect(settings.rpcUrl, settings.chainId, settings.rewardPool)
    this.cached = { key, chain }
    return chain
  }

  private connect (rpcUrl: string, chainId: number, rewardPool: string): Chain {
    const provider = new JsonRpcProvider(rpcUrl, chainId, { staticNetwork: true, batchMaxCount: 1, cacheTimeout: -1, pollingInterval: 500 })
    const signer = this.components.signer().connect(provider)
    return { provider, pool: new Contract(rewardPool, poolAbi, signer), server: signer.address }
  }

  private async claim (chain: Chain, epoch: StoredEpoch, settings: NodeSettings): Promise<void> {
    const { book } = this.components
    const nowSeconds = BigInt(Math.floor(this.now() / 1000))
    const items = []
    for (const item of await book.receiptsOf(epoch.epoch)) {
      if (item.grant.expiry <= nowSeconds + GRANT_EXPIRY_MARGIN_SECONDS) {
        await book.drop(epoch.epoch, item.receipt.contentId, item.receipt.client, `the grant of ${item.receipt.client} expired before it could be claimed`)
        continue
      }
      items.push({ ...item, receipt: { ...item.receipt, server: chain.server } })
    }
    if (items.length === 0) {
      await book.update(epoch.epoch, { status: 'paid', paid: '0', paidAt: this.now() })
      return
    }
    const { claims } = buildClaim(items)
    const payee = getAddress(settings.payoutAddress ?? chain.server)
    let tx: { hash: string, wait: () => Promise<{ status: number | null, logs: readonly unknown[] } | null> }
    try {
      tx = await chain.pool.getFunction('claim')(BigInt(epoch.epoch), payee, claims)
    } catch (err) {
      await this.refused(chain, epoch, err)
      return
    }
    await book.update(epoch.epoch, { status: 'submitted', txHash: tx.hash, closedAt: epoch.closedAt ?? this.now() })
    const receipt = await tx.wait()
    if (receipt !== null) await this.settle(chain, epoch.epoch, tx.hash, receipt)
  }

  /** A claim the pool refused before it was sent: drop the entry it names, or record why. */
  private async refused (chain: Chain, epoch: StoredEpoch, err: unknown): Promise<void> {
    const { book } = this.components
    const data = revertData(err)
    const parsed = data === undefined ? null : chain.pool.interface.parseError(data)
    if ((err as { code?: unknown }).code === 'INSUFFICIENT_FUNDS') {
      throw new Error(`this node's address ${chain.server} has no ETH to pay the claim's gas; send it some (on the devnet: npm run devnet:pass -- ${chain.server})`, { cause: err })
    }
    if (parsed === null) throw err // not a revert: the chain is unreachable; retried next tick
    const args = parsed.args as unknown as Record<string, unknown>
    if (parsed.name === 'EpochAlreadySettled') {
      // an earlier attempt was mined: the epoch is paid
      if (await chain.pool.getFunction('isSettled')(chain.server, BigInt(epoch.epoch)) === true) {
        await book.update(epoch.epoch, { status: 'paid', paidAt: this.now(), lastError: 'claimed by an earlier attempt' })
        return
      }
    }
    if (typeof args.client === 'string' && typeof args.contentId === 'string') {
      await book.drop(epoch.epoch, args.contentId, getAddress(args.client), `${parsed.name}: the pool refused the receipt of ${args.client as string}`)
      return
    }
    throw new Error(`the pool refused the claim: ${parsed.name}(${parsed.args.map(String).join(', ')})`)
  }

  /** A submitted claim: mined → paid; failed → claim again; not found for long → send again. */
  private async confirm (chain: Chain, epoch: StoredEpoch): Promise<void> {
    const hash = epoch.txHash
    const receipt = hash === undefined ? null : await chain.provider.getTransactionReceipt(hash)
    if (receipt !== null && hash !== undefined) {
      await this.settle(chain, epoch.epoch, hash, receipt)
      return
    }
    if (await chain.pool.getFunction('isSettled')(chain.server, BigInt(epoch.epoch)) === true) {
      await this.components.book.update(epoch.epoch, { status: 'paid', paidAt: this.now(), lastError: `settled by a transaction other than ${hash ?? '?'}` })
      return
    }
    if (this.now() - (epoch.closedAt ?? 0) > RESUBMIT_AFTER_MS) await this.components.book.update(epoch.epoch, { status: 'closed' })
  }

  private async settle (chain: Chain, epoch: string, hash: string, receipt: { status: number | null, logs: readonly unknown[] }): Promise<void> {
    if (receipt.status !== 1) {
      await this.components.book.update(epoch, { status: 'closed', lastError: `claim ${hash} reverted` })
      return
    }
    let paid = 0n
    let bytes: bigint | undefined
    for (const log of receipt.logs as ReadonlyArray<{ topics: string[], data: string }>) {
      const event = chain.pool.interface.parseLog(log)
      if (event?.name === 'EpochClaimed' && BigInt(event.args.epoch as bigint) === BigInt(epoch)) {
        paid = event.args.paid as bigint
        bytes = event.args.byteCount as bigint
      }
    }
    await this.components.book.update(epoch, { status: 'paid', txHash: hash, paid: paid.toString(), paidAt: this.now(), ...(bytes === undefined ? {} : { claimedBytes: bytes.toString() }) })
  }
}
