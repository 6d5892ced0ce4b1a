/**
 * Builds the arguments of `RewardPool.claim(epoch, payee, claims)` from signed receipts and
 * grants. Browser-safe (ethers only), so the extension can use it as well as the tests.
 */
import { Signature, getAddress } from 'ethers'
import type { Grant, Receipt } from '@peerloom/shared/eip712'

/** A client's signed receipt with the publisher-signed grant that entitles the client. */
export interface SignedReceiptWithGrant {
  receipt: Receipt
  /** The client's EIP-712 signature of `receipt` (65 bytes, or 64-byte ERC-2098). */
  signature: string
  grant: Grant
  /** The publisher's EIP-712 signature of `grant`. */
  grantSignature: string
}

/** `RewardPool.SignedReceipt`, as ethers encodes it. */
export interface ClaimReceipt {
  client: string
  byteCount: bigint
  receiptR: string
  receiptVS: string
  grantMaxBytes: bigint
  grantExpiry: bigint
  grantR: string
  grantVS: string
}

/** `RewardPool.ContentReceipts`, as ethers encodes it. */
export interface ContentClaim {
  contentId: string
  receipts: ClaimReceipt[]
}

/** The arguments of `RewardPool.claim`, minus the payee. */
export interface Claim {
  server: string
  epoch: bigint
  claims: ContentClaim[]
}

/**
 * Groups receipts of one server and epoch by content, in the strict order the pool requires
 * (contents, then clients, ascending). Where a client has several receipts for a content, only
 * the highest cumulative one is kept: receipts are cumulative, so it covers the others.
 * Throws when receipts mix servers or epochs, or a grant does not belong to its receipt.
 */
export function buildClaim (items: SignedReceiptWithGrant[]): Claim {
  const first = items[0]
  if (first === undefined) throw new RangeError('a claim needs at least one receipt')
  const server = getAddress(first.receipt.server)
  const epoch = first.receipt.epoch
  const latest = new Map<string, SignedReceiptWithGrant>()
  for (const item of items) {
    const { receipt, grant } = item
    if (getAddress(receipt.server) !== server || receipt.epoch !== epoch) {
      throw new RangeError(`a claim covers one server and epoch: ${server}/${epoch} and ${receipt.server}/${receipt.epoch}`)
    }
    if (getAddress(grant.client) !== getAddress(receipt.client) || grant.contentId.toLowerCase() !== receipt.contentId.toLowerCase()) {
      throw new RangeError(`the grant for ${grant.client}/${grant.contentId} does not cover the receipt of ${receipt.client}/${receipt.contentId}`)
    }
    const key = `${receipt.contentId.toLowerCase()}/${getAddress(receipt.client)}`
    const seen = latest.get(key)
    if (seen === undefined || receipt.bytes > seen.receipt.bytes) latest.set(key, item)
  }

  const byContent = new Map<string, ClaimReceipt[]>()
  for (const { receipt, signature, grant, grantSignature } of latest.values()) {
    const contentId = receipt.contentId.toLowerCase()
    const sig = Signature.from(signature)
    const grantSig = Signature.from(grantSignature)
    const list = byContent.get(contentId) ?? []
    list.push({
      client: getAddress(receipt.client),
      byteCount: receipt.bytes,
      receiptR: sig.r,
      receiptVS: sig.yParityAndS,
      grantMaxBytes: grant.maxBytes,
      grantExpiry: grant.expiry,
      grantR: grantSig.r,
      grantVS: grantSig.yParityAndS
    })
    byContent.set(contentId, list)
  }
  const claims = [...byContent.entries()]
    .sort(([a], [b]) => compareHex(a, b))
    .map(([contentId, receipts]) => ({ contentId, receipts: receipts.sort((a, b) => compareHex(a.client, b.client)) }))
  return { server, epoch, claims }
}

/** Orders 0x-prefixed hex strings by their numeric value. */
export function compareHex (a: string, b: string): number {
  const x = BigInt(a)
  const y = BigInt(b)
  return x < y ? -1 : x > y ? 1 : 0
}
