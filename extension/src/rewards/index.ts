/**
 * Rewards in the node: as a viewer, keys and grants for gated content (KeyClient) and signed
 * receipts for verified bytes sent to the peers that delivered them (ReceiptClient); as a
 * donor, the receipts received (ReceiptServer, ReceiptBook) and their claims on chain
 * (Claimer). State lives in its own IndexedDB database, `peerloom-rewards`.
 *
 * @example
 * ```ts
 * const rewards = new Rewards({ settings: () => node.settings(), signer: () => wallet })
 * await rewards.start()
 * await rewards.attach(libp2p)          // receipts protocol
 * const { key } = await rewards.keyFor(manifest)
 * const tracker = rewards.track(session.stats, manifest.contentId) // receipts as bytes arrive
 * ```
 */
import { peerIdFromString } from '@libp2p/peer-id'
import { logger } from '@libp2p/logger'
import type { Libp2p, Logger } from '@libp2p/interface'
import { Contract, getAddress } from 'ethers'
import type { TypedDataDomain, Wallet } from 'ethers'
import { peerloomDomain } from '@peerloom/shared'
import type { Manifest, NodeSettings } from '@peerloom/shared'
import registryAbi from '@peerloom/shared/abi/ContentRegistry.json'
import { Claimer, rpcProvider } from './claimer.ts'
import { KeyClient } from './key-client.ts'
import { ReceiptBook } from './receipt-book.ts'
import type { Earnings } from './receipt-book.ts'
import { ReceiptClient, ReceiptServer } from './receipt-protocol.ts'
import type { StoredAccount } from './receipt-protocol.ts'
import { openRewardsDb } from './rewards-db.ts'
import type { RewardsDb, StoredGrant } from './rewards-db.ts'

export type { Earnings } from './receipt-book.ts'

/** Where the viewer's receipt accounts are kept in the rewards database. */
const RECEIPT_ACCOUNTS = 'receiptAccounts'

/** How often receipts are sent while bytes arrive. @default 2_000 */
export const RECEIPT_INTERVAL_MS = 2_000
/** How often receipts still owed (server offline, chain unreadable) are sent again. @default 30_000 */
export const RECEIPT_RETRY_MS = 30_000

export interface RewardsInit {
  settings: () => NodeSettings
  /** The node's identity key (peer id and address). */
  signer: () => Wallet
  onError?: (err: unknown) => void
  /** Called when the donor's earnings may have changed (a receipt stored, an epoch closed, a claim pass). */
  onChange?: () => void
  /** Scoped logger; the claimer and the receipts protocol log in its scopes. @default logger('peerloom:rewards') */
  log?: Logger
  /** @default 'peerloom-rewards' */
  dbName?: string
}

/** What a viewer's receipts stand at, per server and content. */
export interface ReceiptStatus {
  server: string
  contentId: string
  delivered: string
  accepted: string
  epoch?: string
}

export class Rewards {
  private readonly init: RewardsInit
  private db?: RewardsDb
  private book?: ReceiptBook
  private claimer?: Claimer
  private keys?: KeyClient
  private server?: ReceiptServer
  private client?: ReceiptClient
  private readonly publishers = new Map<string, string>()
  private retryTimer?: ReturnType<typeof setInterval>
  private readonly log: Logger

  constructor (init: RewardsInit) {
    this.init = init
    this.log = init.log ?? logger('peerloom:rewards')
  }

  async start (): Promise<void> {
    this.db = await openRewardsDb(this.init.dbName)
    const onChange = (): void => { this.init.onChange?.() }
    this.book = new ReceiptBook(this.db, onChange)
    await this.book.start()
    this.keys = new KeyClient({ db: this.db, settings: this.init.settings, signer: this.init.signer })
    this.log('open epoch %s', this.book.epoch)
    this.claimer = new Claimer({ book: this.book, settings: this.init.settings, signer: this.init.signer, onPass: onChange, log: this.log.newScope('claimer'), ...(this.init.onError === undefined ? {} : { onError: this.init.onError }) })
    this.claimer.start()
  }

  async stop (): Promise<void> {
    this.claimer?.stop()
    await this.detach()
    this.db?.close()
  }

  /** Speaks the receipts protocol on `libp2p` (call after each network start). */
  async attach (libp2p: Libp2p): Promise<void> {
    const book = this.book
    if (book === undefined) throw new Error('rewards are not started')
    this.server = new ReceiptServer({
      libp2p,
      book,
      address: () => this.init.signer().address,
      domain: () => this.domain(),
      publisherOf: async contentId => await this.publisherOf(contentId),
      log: this.log.newScope('receipts'),
      ...(this.init.onError === undefined ? {} : { onError: this.init.onError })
    })
    await this.server.start()
    if (this.client !== undefined) return
    const db = this.db as RewardsDb
    this.client = new ReceiptClient({
      dialProtocol: async (peer, protocol, options) => await libp2p.dialProtocol(peer, protocol, { ...options, runOnLimitedConnection: true }),
      signer: { address: this.init.signer().address, signTypedData: async (domain, types, value) => await this.init.signer().signTypedData(domain, types, value) },
      log: this.log.newScope('receipts'),
      domain: () => this.domain(),
      grantFor: async contentId => {
        const held = await this.keys?.grantFor(contentId)
        if (held === undefined) return undefined
        return { client: held.grant.client, contentId: held.contentId, maxBytes: BigInt(held.grant.maxBytes), expiry: BigInt(held.grant.expiry), signature: held.grantSignature }
      },
      store: {
        load: async () => await db.get('kv', RECEIPT_ACCOUNTS) as StoredAccount[] | undefined,
        save: async accounts => { await db.put('kv', accounts, RECEIPT_ACCOUNTS) }
      },
      ...(this.init.onError === undefined ? {} : { onError: this.init.onError })
    })
    await this.client.start()
    // receipts still owed (from before a restart, or refused as `unavailable`) go out once the servers can take them
    const client = this.client
    void client.flush().catch(err => { this.init.onError?.(err) })
    this.retryTimer = setInterval(() => { void client.flush().catch(err => { this.init.onError?.(err) }) }, RECEIPT_RETRY_MS)
  }

  async detach (): Promise<void> {
    clearInterval(this.retryTimer)
    this.retryTimer = undefined
    await this.server?.stop().catch(() => {})
    this.server = undefined
    this.client = undefined
  }

  /** The EIP-712 domain of this chain's pool, when the chain is configured. */
  domain (): TypedDataDomain | undefined {
    const { chainId, rewardPool } = this.init.settings()
    return chainId === undefined || rewardPool === undefined ? undefined : peerloomDomain(chainId, rewardPool)
  }

  private async publisherOf (contentId: string): Promise<string | undefined> {
    const known = this.publishers.get(contentId)
    if (known !== undefined) return known
    const { rpcUrl, chainId, contentRegistry } = this.init.settings()
    if (rpcUrl === undefined || chainId === undefined || contentRegistry === undefined) throw new Error('no chain configured to look up publishers')
    const provider = rpcProvider(rpcUrl, chainId)
    const publisher = getAddress(await new Contract(contentRegistry, registryAbi, provider).getFunction('publisherOf')(contentId) as string)
    if (BigInt(publisher) === 0n) return undefined
    this.publishers.set(contentId, publisher) // a registration's publisher never changes
    return publisher
  }

  /** The key of gated content (asks the publisher's key service unless a grant is held). */
  async keyFor (manifest: Manifest, options: { signal?: AbortSignal } = {}): Promise<StoredGrant> {
    if (this.keys === undefined) throw new Error('rewards are not started')
    return await this.keys.keyFor(manifest, options)
  }

  /**
   * Follows a transfer's per-peer byte counts (verified bytes only) and sends receipts as they
   * grow; `stop` sends the last ones.
   */
  track (stats: { perPeer: Record<string, number> }, contentId: string): { stop: () => void } {
    const seen = new Map<string, number>()
    const update = (): void => {
      const client = this.client
      if (client === undefined) return
      let grew = false
      for (const [peer, total] of Object.entries(stats.perPeer)) {
        const delta = total - (seen.get(peer) ?? 0)
        if (delta <= 0) continue
        seen.set(peer, total)
        try {
          client.record(peerIdFromString(peer), contentId.toLowerCase(), delta)
          grew = true
        } catch (err) {
          this.init.onError?.(err)
        }
      }
      if (grew) void client.flush().catch(err => { this.init.onError?.(err) })
    }
    const timer = setInterval(update, RECEIPT_INTERVAL_MS)
    return { stop: () => { clearInterval(timer); update() } }
  }

  /** Sends every receipt still owed; resolves with the servers' answers. */
  async flushReceipts (): Promise<unknown> {
    return await this.client?.flush() ?? []
  }

  /** Receipts this node sent as a viewer. */
  receiptStatus (): ReceiptStatus[] {
    return this.client?.summary() ?? []
  }

  /**
   * Pending, submitted and paid rewards of this node as a donor, and the claimer's status
   * (`claim`); while claims wait for the chain, `lastError` is that status's message.
   */
  async earnings (): Promise<Earnings & { epoch: string }> {
    const book = this.book
    const claimer = this.claimer
    if (book === undefined || claimer === undefined) throw new Error('rewards are not started')
    const [earnings, claim] = await Promise.all([book.earnings(), claimer.status()])
    return { ...earnings, ...(claim.message === undefined ? {} : { lastError: claim.message }), claim, epoch: book.epoch.toString() }
  }

  /** Closes the open epoch and claims now instead of at the epoch's end. */
  async claimNow (): Promise<Earnings & { epoch: string }> {
    await this.claimer?.tick({ closeNow: true })
    return await this.earnings()
  }
}
