/**
 * `/peerloom/receipts/1.0.0`: one length-prefixed receipt message (a signed cumulative
 * receipt and the client's grant, `encodeReceiptMessage`) from the client, one answer
 * (`encodeReceiptAnswer`) from the server, then the stream closes.
 *
 * The server checks everything the pool will check before it stores a receipt: the receipt
 * is for this server and signed by the peer that sent it, the grant is for that client and
 * content, unexpired, and signed by the content's publisher as the registry records it.
 */
import { lpStream } from '@libp2p/utils'
import { logger } from '@libp2p/logger'
import type { Connection, Libp2p, Logger, PeerId, Stream } from '@libp2p/interface'
import {
  RECEIPTS_PROTOCOL, MAX_RECEIPT_MESSAGE_BYTES, decodeReceiptAnswer, decodeReceiptMessage, encodeReceiptAnswer, encodeReceiptMessage,
  recoverGrantSigner, verifyReceipt, isPeerloomError, ErrorCode
} from '@peerloom/shared'
import type { ReceiptAnswer, SignedReceipt, TypedDataSigner } from '@peerloom/shared'
import { signReceipt } from '@peerloom/shared/eip712'
import { peerIdFromString } from '@libp2p/peer-id'
import { computeAddress, getAddress, hexlify } from 'ethers'
import type { TypedDataDomain } from 'ethers'
import type { ReceiptBook } from './receipt-book.ts'

/** How long one receipt exchange may take. @default 10_000 */
export const RECEIPT_EXCHANGE_TIMEOUT_MS = 10_000

/** The Ethereum address of a secp256k1 peer id (the key that signs its receipts and is paid). */
export function addressOfPeer (peer: PeerId): string {
  if (peer.type !== 'secp256k1' || peer.publicKey === undefined) throw new Error(`peer ${peer.toString()} has no secp256k1 key, so no address`)
  return computeAddress(hexlify(peer.publicKey.raw))
}

export interface ReceiptServerComponents {
  libp2p: Pick<Libp2p, 'handle' | 'unhandle'>
  book: ReceiptBook
  /** This node's address: receipts must name it as the server. */
  address: () => string
  /** The EIP-712 domain (chain id and pool), or undefined when no chain is configured. */
  domain: () => TypedDataDomain | undefined
  /** The registered publisher of a content; throws when the chain cannot be read. */
  publisherOf: (contentId: string) => Promise<string | undefined>
  now?: () => number
  onError?: (err: unknown) => void
  /** Scoped logger. @default logger('peerloom:rewards:receipts') */
  log?: Logger
}

/** Receives clients' receipts and keeps the valid ones in the receipt book. */
export class ReceiptServer {
  private readonly components: ReceiptServerComponents

  private readonly log: Logger

  constructor (components: ReceiptServerComponents) {
    this.components = components
    this.log = components.log ?? logger('peerloom:rewards:receipts')
  }

  async start (): Promise<void> {
    await this.components.libp2p.handle(RECEIPTS_PROTOCOL, (stream, connection) => { void this.serve(stream, connection) }, {
      maxInboundStreams: 8,
      runOnLimitedConnection: true
    })
  }

  async stop (): Promise<void> {
    await this.components.libp2p.unhandle(RECEIPTS_PROTOCOL)
  }

  private async serve (stream: Stream, connection: Connection): Promise<void> {
    const signal = AbortSignal.timeout(RECEIPT_EXCHANGE_TIMEOUT_MS)
    const lp = lpStream(stream, { maxDataLength: MAX_RECEIPT_MESSAGE_BYTES })
    try {
      const message = await lp.read({ signal })
      const answer = await this.check(message.subarray(), connection.remotePeer)
      await lp.write(encodeReceiptAnswer(answer), { signal })
      await stream.close({ signal }).catch(() => {})
    } catch (err) {
      stream.abort(err instanceof Error ? err : new Error(String(err)))
    }
  }

  /** Validates and stores one receipt message from `peer`; never throws. */
  async check (bytes: Uint8Array, peer: PeerId): Promise<ReceiptAnswer> {
    const { book } = this.components
    const reject = (message: string): ReceiptAnswer => {
      this.log('rejected a receipt: %s', message)
      return { status: 'rejected', epoch: book.epoch, message }
    }
    let signed: SignedReceipt
    try {
      signed = decodeReceiptMessage(bytes)
    } catch (err) {
      return reject((err as Error).message)
    }
    const domain = this.components.domain()
    if (domain === undefined) return { status: 'unavailable', epoch: book.epoch, message: 'this node has no chain configured' }
    const { receipt, grant } = signed
    let client: string
    try {
      client = addressOfPeer(peer)
    } catch (err) {
      return reject((err as Error).message)
    }
    if (receipt.server !== getAddress(this.components.address())) return reject(`receipt names server ${receipt.server}, not this node`)
    if (receipt.client !== client) return reject(`receipt names client ${receipt.client}, but came from ${client}`)
    if (grant.client !== client || grant.contentId !== receipt.contentId) return reject('the grant is not for this client and content')
    const now = BigInt(Math.floor((this.components.now?.() ?? Date.now()) / 1000))
    if (grant.expiry <= now) return reject(`the grant expired at ${grant.expiry}`)
    try {
      verifyReceipt(domain, receipt, signed.signature)
    } catch (err) {
      return reject((err as Error).message)
    }
    let publisher: string | undefined
    try {
      publisher = await this.components.publisherOf(receipt.contentId)
    } catch (err) {
      this.components.onError?.(err)
      return { status: 'unavailable', epoch: book.epoch, message: 'the chain cannot be read to check the grant; try again later' }
    }
    if (publisher === undefined) return reject(`content ${receipt.contentId} is not registered`)
    let grantSigner: string
    try {
      grantSigner = recoverGrantSigner(domain, grant, signed.grantSignature)
    } catch (err) {
      return reject((err as Error).message)
    }
    if (grantSigner !== publisher) return reject(`the grant is signed by ${grantSigner}, not by the publisher ${publisher}`)
    try {
      const { accepted, epoch } = await book.accept(signed)
      this.log('receipt of %s for %d bytes of %s: %s', receipt.client, receipt.bytes, receipt.contentId, accepted ? 'accepted' : 'epoch closed')
      return { status: accepted ? 'accepted' : 'epoch-closed', epoch }
    } catch (err) {
      this.components.onError?.(err)
      return { status: 'unavailable', epoch: book.epoch, message: 'the receipt could not be stored' }
    }
  }
}

export interface ReceiptClientComponents {
  dialProtocol: (peer: PeerId, protocol: string, options: { signal: AbortSignal }) => Promise<Stream>
  signer: TypedDataSigner & { address: string }
  domain: () => TypedDataDomain | undefined
  /** The grant held for a content, if any: receipts are sent only with one. */
  grantFor: (contentId: string) => Promise<SignedReceipt['grant'] & { signature: string } | undefined>
  /** Where the accounts are kept, so bytes not yet receipted survive a restart. */
  store?: {
    load: () => Promise<StoredAccount[] | undefined>
    save: (accounts: StoredAccount[]) => Promise<void>
  }
  now?: () => number
  onError?: (err: unknown) => void
  /** Scoped logger. @default logger('peerloom:rewards:receipts') */
  log?: Logger
}

/** An account as stored: amounts as decimal strings, the server as its peer id. */
export interface StoredAccount {
  peer: string
  contentId: string
  delivered: string
  epoch?: string
  epochStart: string
  accepted: string
  at: number
}

/** Where a client stands with one server for one content. */
interface Account {
  peer: PeerId
  server: string
  contentId: string
  /** Verified bytes received from the server, since this node started. */
  delivered: bigint
  /** The server's epoch, once known. */
  epoch?: bigint
  /** Bytes of `delivered` that belong to earlier (closed) epochs. */
  epochStart: bigint
  /** Cumulative bytes the server accepted in `epoch`. */
  accepted: bigint
  /** When bytes were last recorded (ms). */
  at: number
}

/** An account with nothing owed is forgotten at a restart once it is this old (the longest epoch). */
const ACCOUNT_KEEP_MS = 7 * 24 * 60 * 60 * 1000

/**
 * Signs cumulative receipts for verified bytes, per server and content, and sends them.
 * When the server has closed the epoch the receipt named, the bytes it had not accepted move
 * to its new epoch: none are lost and none are counted twice.
 */
export class ReceiptClient {
  private readonly components: ReceiptClientComponents
  private readonly accounts = new Map<string, Account>()
  /** Flushes run one after another, so one account never has two receipts in flight. */
  private flushing: Promise<unknown> = Promise.resolve()
  private saving: Promise<unknown> = Promise.resolve()

  private readonly log: Logger

  constructor (components: ReceiptClientComponents) {
    this.components = components
    this.log = components.log ?? logger('peerloom:rewards:receipts')
  }

  private now (): number {
    return this.components.now?.() ?? Date.now()
  }

  /** Loads the stored accounts (bytes delivered before a restart and not yet receipted). */
  async start (): Promise<void> {
    for (const stored of await this.components.store?.load() ?? []) {
      try {
        const peer = peerIdFromString(stored.peer)
        const account: Account = { peer, server: addressOfPeer(peer), contentId: stored.contentId, delivered: BigInt(stored.delivered), epochStart: BigInt(stored.epochStart), accepted: BigInt(stored.accepted), at: stored.at, ...(stored.epoch === undefined ? {} : { epoch: BigInt(stored.epoch) }) }
        const owed = account.delivered - account.epochStart > account.accepted
        if (!owed && this.now() - account.at > ACCOUNT_KEEP_MS) continue
        const key = `${account.server}/${account.contentId}`
        if (!this.accounts.has(key)) this.accounts.set(key, account)
      } catch (err) {
        this.components.onError?.(err)
      }
    }
  }

  /** Stores the accounts; saves run one after another. */
  private async persist (): Promise<void> {
    const store = this.components.store
    if (store === undefined) return
    const run = this.saving.then(async () => {
      await store.save([...this.accounts.values()].map(a => ({
        peer: a.peer.toString(),
        contentId: a.contentId,
        delivered: a.delivered.toString(),
        epochStart: a.epochStart.toString(),
        accepted: a.accepted.toString(),
        at: a.at,
        ...(a.epoch === undefined ? {} : { epoch: a.epoch.toString() })
      })))
    })
    this.saving = run.catch(err => { this.components.onError?.(err) })
    await this.saving
  }

  /** Counts `bytes` verified bytes of `contentId` received from `peer`. */
  record (peer: PeerId, contentId: string, bytes: number): void {
    if (bytes <= 0) return
    const server = addressOfPeer(peer)
    const key = `${server}/${contentId}`
    let account = this.accounts.get(key)
    if (account === undefined) {
      account = { peer, server, contentId, delivered: 0n, epochStart: 0n, accepted: 0n, at: this.now() }
      this.accounts.set(key, account)
    }
    account.delivered += BigInt(bytes)
    account.at = this.now()
    void this.persist()
  }

  /** Sends a receipt to every server owed one; resolves with the answers (for tests and logs). */
  async flush (): Promise<Array<{ server: string, contentId: string, answer?: ReceiptAnswer, error?: string }>> {
    const run = this.flushing.then(async () => await this.flushNow(), async () => await this.flushNow())
    this.flushing = run.catch(() => {})
    return await run
  }

  private async flushNow (): Promise<Array<{ server: string, contentId: string, answer?: ReceiptAnswer, error?: string }>> {
    const results = await Promise.all([...this.accounts.values()].filter(a => a.delivered - a.epochStart > a.accepted).map(async account => await this.send(account)))
    if (results.length > 0) await this.persist()
    return results.flat()
  }

  private async send (account: Account): Promise<Array<{ server: string, contentId: string, answer?: ReceiptAnswer, error?: string }>> {
    const out: Array<{ server: string, contentId: string, answer?: ReceiptAnswer, error?: string }> = []
    // at most two rounds: a guessed or stale epoch is corrected by the server's answer
    for (let round = 0; round < 2; round++) {
      const grant = await this.components.grantFor(account.contentId)
      const domain = this.components.domain()
      if (grant === undefined || domain === undefined) return out
      const bytes = account.delivered - account.epochStart
      const epoch = account.epoch ?? BigInt(Math.floor(this.now() / 1000))
      const receipt = { server: account.server, client: getAddress(this.components.signer.address), contentId: account.contentId, epoch, bytes }
      let answer: ReceiptAnswer
      try {
        const signature = await signReceipt(this.components.signer, domain, receipt)
        const { signature: grantSignature, ...grantFields } = grant
        answer = await this.exchange(account.peer, encodeReceiptMessage({ receipt, signature, grant: grantFields, grantSignature }))
      } catch (err) {
        this.log('receipt to %s not delivered: %s', account.server, (err as Error).message)
        out.push({ server: account.server, contentId: account.contentId, error: isPeerloomError(err) && err.code === ErrorCode.TIMEOUT ? 'timed out' : (err as Error).message })
        return out
      }
      this.log('receipt to %s for %d bytes: %s', account.server, bytes, answer.status)
      out.push({ server: account.server, contentId: account.contentId, answer })
      if (answer.status === 'accepted') {
        account.epoch = answer.epoch
        if (bytes > account.accepted) account.accepted = bytes
        return out
      }
      if (answer.status !== 'epoch-closed') return out
      if (account.epoch !== undefined && answer.epoch !== account.epoch) {
        // the server closed our epoch with what it had accepted; the rest belongs to the new one
        account.epochStart += account.accepted
      }
      account.epoch = answer.epoch
      account.accepted = 0n
    }
    return out
  }

  private async exchange (peer: PeerId, message: Uint8Array): Promise<ReceiptAnswer> {
    const signal = AbortSignal.timeout(RECEIPT_EXCHANGE_TIMEOUT_MS)
    const stream = await this.components.dialProtocol(peer, RECEIPTS_PROTOCOL, { signal })
    try {
      const lp = lpStream(stream, { maxDataLength: MAX_RECEIPT_MESSAGE_BYTES })
      await lp.write(message, { signal })
      const answer = decodeReceiptAnswer((await lp.read({ signal })).subarray())
      await stream.close({ signal }).catch(() => {})
      return answer
    } catch (err) {
      stream.abort(err instanceof Error ? err : new Error(String(err)))
      throw err
    }
  }

  /** Totals per server and content, for status and tests. */
  summary (): Array<{ server: string, contentId: string, delivered: string, accepted: string, epoch?: string }> {
    return [...this.accounts.values()].map(a => ({ server: a.server, contentId: a.contentId, delivered: a.delivered.toString(), accepted: (a.epochStart + a.accepted).toString(), ...(a.epoch === undefined ? {} : { epoch: a.epoch.toString() }) }))
  }
}
