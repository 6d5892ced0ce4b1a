/**
 * Claims this server's closed epochs from the RewardPool with ethers: closes the open epoch at
 * its end (or past the byte threshold), builds each closed epoch's claim with `buildClaim`,
 * sends `claim(epoch, payee, claims)` from the node's own key and records the transaction and
 * what it paid. When the chain is unreachable (connection refused, no answer in time, the RPC
 * answering errors) nothing changes but the status: the epochs stay closed with their receipts,
 * and the claim is tried again after a backoff that doubles up to {@link RETRY_MAX_MS} (after a
 * restart too). A receipt the pool refuses (its error names client and content) is dropped and
 * the rest claimed again; an epoch an earlier attempt settled is recorded once, from its event.
 */
import { logger } from '@libp2p/logger'
import type { Logger } from '@libp2p/interface'
import { Contract, FetchRequest, JsonRpcProvider, getAddress } from 'ethers'
import type { Wallet } from 'ethers'
import { buildClaim } from '@peerloom/contracts/claim'
import poolAbi from '@peerloom/shared/abi/RewardPool.json'
import { ChainError, TimeoutError, isPeerloomError } from '@peerloom/shared'
import type { NodeSettings, PeerloomError } from '@peerloom/shared'
import type { ReceiptBook } from './receipt-book.ts'
import type { StoredEpoch } from './rewards-db.ts'

/** How often the claimer looks at the epochs. @default 5_000 */
export const CLAIM_TICK_MS = 5_000
/** A submitted claim not mined after this long is sent again. @default 120_000 */
export const RESUBMIT_AFTER_MS = 120_000
/** Receipts whose grant expires sooner than this are not claimed (the claim could be mined after it). @default 60 */
export const GRANT_EXPIRY_MARGIN_SECONDS = 60n
/** One JSON-RPC request without an answer after this long counts as the chain unreachable. @default 15_000 */
export const RPC_TIMEOUT_MS = 15_000
/** How long a pass waits for its claim to be mined before leaving it to the next pass. @default 60_000 */
export const MINE_TIMEOUT_MS = 60_000
/** The longest wait between failed attempts; the first retry comes after one tick. @default 300_000 */
export const RETRY_MAX_MS = 300_000

/** Why the last claim attempt failed. */
export type ClaimFailure = 'unreachable' | 'timeout' | 'rpc-error' | 'no-gas' | 'refused'

/** The claimer's state, for the popup's Earnings (`Earnings.claim`). */
export interface ClaimStatus {
  /** `retrying`: the last attempt failed and the claimer tries again at `nextAttemptAt`. */
  state: 'idle' | 'ok' | 'retrying'
  /** The failure's error code: 5012 (chain unreachable, RPC errors, no gas, refused) or 5010 (the RPC did not answer in time). */
  code?: number
  reason?: ClaimFailure
  /** One sentence for people, e.g. "chain unreachable at http://127.0.0.1:8545 (connection refused); 3 epochs of receipts kept, retry in 60 s". */
  message?: string
  rpcUrl?: string
  /** Failed attempts in a row (0 after a success or a restart). */
  failures: number
  lastAttemptAt?: number
  nextAttemptAt?: number
  /** Seconds until `nextAttemptAt` when it was read. */
  retryInSeconds?: number
  /** Receipts waiting for their claim (closed and submitted epochs); they stay until paid. */
  kept: { epochs: number, receipts: number, bytes: string }
}

export interface ClaimerComponents {
  book: ReceiptBook
  settings: () => NodeSettings
  /** The node's identity key: the server that claims. */
  signer: () => Wallet
  now?: () => number
  onError?: (err: unknown) => void
  /** Called after each pass: what it claimed, confirmed or failed may have changed the earnings. */
  onPass?: () => void
  /** Scoped logger. @default logger('peerloom:rewards:claimer') */
  log?: Logger
  /** @default RPC_TIMEOUT_MS */
  rpcTimeoutMs?: number
  /** @default MINE_TIMEOUT_MS */
  mineTimeoutMs?: number
}

interface Chain {
  provider: JsonRpcProvider
  pool: Contract
  server: string
  rpcUrl: string
}

interface Failure {
  reason: ClaimFailure
  /** The failure without the retry part, e.g. "chain unreachable at … (connection refused)". */
  text: string
  error: PeerloomError
  rpcUrl: string
}

/** A JSON-RPC provider for `rpcUrl` whose requests give up after `timeoutMs` (ethers' default is 5 min). */
export function rpcProvider (rpcUrl: string, chainId: number, timeoutMs = RPC_TIMEOUT_MS, pollingInterval = 500): JsonRpcProvider {
  const request = new FetchRequest(rpcUrl)
  request.timeout = timeoutMs
  return new JsonRpcProvider(request, chainId, { staticNetwork: true, batchMaxCount: 1, cacheTimeout: -1, pollingInterval })
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

/** Connection-level error codes: nothing reached the RPC server (Node's net; the browser's fetch throws a TypeError). */
const UNREACHABLE_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'EPIPE', 'NETWORK_ERROR'])

/** Sorts a failed attempt into unreachable / timeout / RPC error / no gas / refused, with a coded error. */
export function classify (err: unknown, rpcUrl: string, timeoutMs: number): Failure {
  const code = (err as { code?: unknown }).code
  const cause = (err as { cause?: { code?: unknown } }).cause?.code
  let reason: ClaimFailure
  let text: string
  const own = isPeerloomError(err) ? (err.data as { reason?: ClaimFailure } | undefined)?.reason : undefined
  if (isPeerloomError(err) && own !== undefined) {
    return { reason: own, text: err.message, error: err, rpcUrl }
  } else if (code === 'TIMEOUT' || code === 'ETIMEDOUT') {
    reason = 'timeout'
    text = `chain unreachable at ${rpcUrl} (no answer within ${timeoutMs / 1000} s)`
  } else if (code === 'ECONNREFUSED' || cause === 'ECONNREFUSED') {
    reason = 'unreachable'
    text = `chain unreachable at ${rpcUrl} (connection refused)`
  } else if (err instanceof TypeError) {
    // the browser's fetch says no more than "Failed to fetch" for a refused, reset or unresolved connection
    reason = 'unreachable'
    text = `chain unreachable at ${rpcUrl} (no connection: ${err.message})`
  } else if ((typeof code === 'string' && UNREACHABLE_CODES.has(code)) || (typeof cause === 'string' && UNREACHABLE_CODES.has(cause))) {
    reason = 'unreachable'
    text = `chain unreachable at ${rpcUrl} (${describe(err)})`
  } else {
    reason = 'rpc-error'
    const rpc = (err as { error?: { message?: unknown } }).error?.message
    text = `chain RPC at ${rpcUrl} answered with an error: ${typeof rpc === 'string' ? rpc : describe(err)}`
  }
  const error = reason === 'timeout'
    ? new TimeoutError(text, { cause: err, data: { reason, rpcUrl } })
    : new ChainError(text, { cause: err, data: { reason, rpcUrl } })
  return { reason, text, error, rpcUrl }
}

/** A failure the claim itself caused, not the chain's reachability. */
function claimFailure (reason: 'no-gas' | 'refused', text: string, cause: unknown, rpcUrl: string): PeerloomError {
  return new ChainError(text, { cause, data: { reason, rpcUrl } })
}

export class Claimer {
  private readonly components: ClaimerComponents
  private timer?: ReturnType<typeof setInterval>
  private running: Promise<void> = Promise.resolve()
  private busy = false
  /** One provider per chain configuration, reused across passes. */
  private cached?: { key: string, chain: Chain }
  private failure?: Failure & { failures: number, at: number, nextAttemptAt: number }
  private lastAttemptAt?: number

  private readonly log: Logger

  constructor (components: ClaimerComponents) {
    this.components = components
    this.log = components.log ?? logger('peerloom:rewards:claimer')
  }

  /** The tick, and the first retry's delay. */
  get interval (): number {
    return Math.min(CLAIM_TICK_MS, Math.max(1000, this.components.settings().epochSeconds * 250))
  }

  start (): void {
    // a timer tick while a pass runs (a stalled RPC) is skipped rather than queued
    this.timer ??= setInterval(() => { if (!this.busy) void this.tick() }, this.interval)
  }

  stop (): void {
    clearInterval(this.timer)
    this.timer = undefined
  }

  private now (): number {
    return this.components.now?.() ?? Date.now()
  }

  /**
   * One pass: close the epoch if due, then claim or confirm every unsettled epoch, unless the
   * last attempt failed and its retry is not due. `closeNow` (the popup's "Claim now") closes
   * the open epoch and tries at once. Never throws.
   */
  async tick (options: { closeNow?: boolean } = {}): Promise<void> {
    const run = this.running.then(async () => {
      this.busy = true
      try {
        await this.pass(options)
      } finally {
        this.busy = false
        this.components.onPass?.()
      }
    })
    this.running = run.catch(() => {})
    await run
  }

  /** Whether claims wait for the chain, why, and when they are tried again. */
  async status (): Promise<ClaimStatus> {
    const unsettled = await this.components.book.unsettled()
    const kept = {
      epochs: unsettled.length,
      receipts: unsettled.reduce((sum, e) => sum + e.receipts, 0),
      bytes: unsettled.reduce((sum, e) => sum + BigInt(e.bytes), 0n).toString()
    }
    const failure = this.failure
    if (failure === undefined) {
      return { state: this.lastAttemptAt === undefined ? 'idle' : 'ok', failures: 0, kept, ...(this.lastAttemptAt === undefined ? {} : { lastAttemptAt: this.lastAttemptAt }) }
    }
    const retryInSeconds = Math.max(0, Math.ceil((failure.nextAttemptAt - this.now()) / 1000))
    const epochs = `${kept.epochs} ${kept.epochs === 1 ? 'epoch' : 'epochs'} of receipts kept`
    return {
      state: 'retrying',
      code: failure.error.code,
      reason: failure.reason,
      message: `${failure.text}; ${epochs}, ${retryInSeconds === 0 ? 'retrying now' : `retry in ${retryInSeconds} s`}`,
      rpcUrl: failure.rpcUrl,
      failures: failure.failures,
      lastAttemptAt: failure.at,
      nextAttemptAt: failure.nextAttemptAt,
      retryInSeconds,
      kept
    }
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
    const unsettled = await book.unsettled()
    if (unsettled.length === 0) {
      this.failure = undefined
      return
    }
    if (options.closeNow !== true && this.failure !== undefined && this.now() < this.failure.nextAttemptAt) return
    const timeoutMs = this.components.rpcTimeoutMs ?? RPC_TIMEOUT_MS
    let failed: Failure | undefined
    this.lastAttemptAt = this.now()
    for (const epoch of unsettled) {
      try {
        if (epoch.status === 'submitted') await this.confirm(chain, epoch)
        else await this.claim(chain, epoch, settings)
      } catch (err) {
        failed = classify(err, chain.rpcUrl, timeoutMs)
        this.log.error('epoch %s: %s (%s)', epoch.epoch, failed.text, failed.reason)
        await book.update(epoch.epoch, { lastError: failed.text, attempts: epoch.attempts + 1 })
        this.components.onError?.(failed.error)
        // the chain is out of reach (or the node out of gas): the next epochs would fail the same way
        if (failed.reason !== 'refused') break
      }
    }
    if (failed === undefined) {
      this.failure = undefined
      return
    }
    const failures = (this.failure?.failures ?? 0) + 1
    const at = this.now()
    this.failure = { ...failed, failures, at, nextAttemptAt: at + Math.min(RETRY_MAX_MS, this.interval * 2 ** (failures - 1)) }
  }

  private chain (settings: NodeSettings): Chain | undefined {
    if (settings.rpcUrl === undefined || settings.rewardPool === undefined || settings.chainId === undefined) return undefined
    const key = `${settings.rpcUrl} ${settings.chainId} ${settings.rewardPool} ${this.components.signer().address}`
    if (this.cached?.key === key) return this.cached.chain
    this.cached?.chain.provider.destroy()
    this.failure = undefined // other chain settings: try them at once
    const chain = this.connect(settings.rpcUrl, settings.chainId, settings.rewardPool)
    this.cached = { key, chain }
    return chain
  }

  private connect (rpcUrl: string, chainId: number, rewardPool: string): Chain {
    const provider = rpcProvider(rpcUrl, chainId, this.components.rpcTimeoutMs)
    const signer = this.components.signer().connect(provider)
    return { provider, pool: new Contract(rewardPool, poolAbi, signer), server: signer.address, rpcUrl }
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
    let tx: { hash: string }
    try {
      tx = await chain.pool.getFunction('claim')(BigInt(epoch.epoch), payee, claims)
    } catch (err) {
      await this.refused(chain, epoch, err)
      return
    }
    this.log('epoch %s: claim submitted in %s', epoch.epoch, tx.hash)
    await book.update(epoch.epoch, { status: 'submitted', txHash: tx.hash, closedAt: epoch.closedAt ?? this.now() })
    // bounded: a chain gone after the send leaves the epoch submitted for the next pass to confirm
    const mineTimeoutMs = this.components.mineTimeoutMs ?? MINE_TIMEOUT_MS
    const receipt = await chain.provider.waitForTransaction(tx.hash, 1, mineTimeoutMs).catch((err: unknown) => {
      if ((err as { code?: unknown }).code !== 'TIMEOUT') throw err
      throw new TimeoutError(`claim ${tx.hash} sent to ${chain.rpcUrl} but not mined within ${Math.round(mineTimeoutMs / 1000)} s; it is confirmed or sent again later`, { cause: err, data: { reason: 'timeout', rpcUrl: chain.rpcUrl } })
    })
    if (receipt !== null) await this.settle(chain, epoch.epoch, tx.hash, receipt)
  }

  /** A claim the pool refused before it was sent: drop the entry it names, or record why. */
  private async refused (chain: Chain, epoch: StoredEpoch, err: unknown): Promise<void> {
    const { book } = this.components
    const data = revertData(err)
    const parsed = data === undefined ? null : chain.pool.interface.parseError(data)
    if ((err as { code?: unknown }).code === 'INSUFFICIENT_FUNDS') {
      throw claimFailure('no-gas', `this node's address ${chain.server} has no ETH to pay the claim's gas; send it some (on the devnet: npm run devnet:pass -- ${chain.server})`, err, chain.rpcUrl)
    }
    if (parsed === null) throw err // not a revert: the chain is unreachable or answered an error; retried after the backoff
    const args = parsed.args as unknown as Record<string, unknown>
    if (parsed.name === 'EpochAlreadySettled') {
      // an earlier attempt was mined (its answer may have been lost on the way back): record what it paid, once
      if (await chain.pool.getFunction('isSettled')(chain.server, BigInt(epoch.epoch)) === true) {
        await this.settledEarlier(chain, epoch)
        return
      }
    }
    if (typeof args.client === 'string' && typeof args.contentId === 'string') {
      await book.drop(epoch.epoch, args.contentId, getAddress(args.client), `${parsed.name}: the pool refused the receipt of ${args.client as string}`)
      return
    }
    throw claimFailure('refused', `the pool refused the claim: ${parsed.name}(${parsed.args.map(String).join(', ')})`, err, chain.rpcUrl)
  }

  /** An epoch some earlier transaction settled: its `EpochClaimed` event says which and what it paid. */
  private async settledEarlier (chain: Chain, epoch: StoredEpoch): Promise<void> {
    const events = await chain.pool.queryFilter(chain.pool.getEvent('EpochClaimed')(chain.server, BigInt(epoch.epoch)), 0)
    const event = events.at(-1) as (typeof events[number] & { args?: { paid: bigint, byteCount: bigint } }) | undefined
    if (event?.args === undefined) {
      await this.components.book.update(epoch.epoch, { status: 'paid', paidAt: this.now(), lastError: 'claimed by an earlier attempt' })
      return
    }
    await this.components.book.update(epoch.epoch, {
      status: 'paid',
      txHash: event.transactionHash,
      paid: event.args.paid.toString(),
      claimedBytes: event.args.byteCount.toString(),
      paidAt: this.now(),
      lastError: 'claimed by an earlier attempt'
    })
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
      await this.settledEarlier(chain, epoch)
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
    this.log('epoch %s: paid %s in %s', epoch, paid, hash)
    await this.components.book.update(epoch, { status: 'paid', txHash: hash, paid: paid.toString(), paidAt: this.now(), ...(bytes === undefined ? {} : { claimedBytes: bytes.toString() }) })
  }
}
