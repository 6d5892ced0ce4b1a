/**
 * Receipts on the wire (`/peerloom/receipts/1.0.0`): the client sends the server a cumulative
 * EIP-712 receipt for the verified bytes it received, together with its grant from the
 * publisher, so the server can claim both in one RewardPool transaction.
 */
import { getAddress, isAddress } from 'ethers'
import { z } from 'zod'
import type { Grant, Receipt } from './eip712.ts'
import { InvalidParamsError } from './errors.ts'

/** Length of a reward epoch: receipts are cumulative within one. @default 3600 */
export const DEFAULT_EPOCH_SECONDS = 3600
/** Largest receipt message accepted from a peer. */
export const MAX_RECEIPT_MESSAGE_BYTES = 2048

/** The epoch that `unixMs` falls in. */
export function epochAt (unixMs: number, epochSeconds = DEFAULT_EPOCH_SECONDS): bigint {
  return BigInt(Math.floor(unixMs / 1000 / epochSeconds))
}

const address = z.string().refine(isAddress, 'must be an address').transform(value => getAddress(value))
const bytes32 = z.string().regex(/^0x[0-9a-fA-F]{64}$/, 'must be 32 bytes of 0x-hex').transform(value => value.toLowerCase())
const uint = (bits: number): z.ZodType<bigint, string> => z.string().regex(/^\d{1,78}$/, 'must be a decimal integer').transform(value => BigInt(value)).refine(value => value < 2n ** BigInt(bits), `must fit in ${bits} bits`) as never
const signature = z.string().regex(/^0x[0-9a-fA-F]{130}$/, 'must be a 65-byte signature')

const receiptMessageSchema = z.strictObject({
  receipt: z.strictObject({ server: address, client: address, contentId: bytes32, epoch: uint(64), bytes: uint(256) }),
  signature,
  grant: z.strictObject({ client: address, contentId: bytes32, maxBytes: uint(256), expiry: uint(64) }),
  grantSignature: signature
})

/** A receipt with its signature and the grant that entitles the client. */
export interface SignedReceipt {
  receipt: Receipt
  signature: string
  grant: Grant
  grantSignature: string
}

const decimal = (value: bigint): string => value.toString(10)

/** JSON bytes of a signed receipt (bigints as decimal strings). */
export function encodeReceiptMessage (message: SignedReceipt): Uint8Array {
  const { receipt: r, grant: g } = message
  return new TextEncoder().encode(JSON.stringify({
    receipt: { server: r.server, client: r.client, contentId: r.contentId, epoch: decimal(r.epoch), bytes: decimal(r.bytes) },
    signature: message.signature,
    grant: { client: g.client, contentId: g.contentId, maxBytes: decimal(g.maxBytes), expiry: decimal(g.expiry) },
    grantSignature: message.grantSignature
  }))
}

/**
 * Parses JSON a peer sent (at most MAX_RECEIPT_MESSAGE_BYTES of UTF-8) and validates it against
 * `schema`; anything else is an InvalidParamsError naming `what` and the first offending field.
 */
function decodeJson<T extends z.ZodType> (bytes: Uint8Array, schema: T, what: string): z.output<T> {
  if (bytes.length > MAX_RECEIPT_MESSAGE_BYTES) throw new InvalidParamsError(`${what} is ${bytes.length} bytes; at most ${MAX_RECEIPT_MESSAGE_BYTES}`)
  let value: unknown
  try {
    value = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes))
  } catch (err) {
    throw new InvalidParamsError(`${what} is not JSON`, { cause: err })
  }
  const result = schema.safeParse(value)
  if (!result.success) {
    const issue = result.error.issues[0]
    throw new InvalidParamsError(`${what} ${issue?.path.join('.') ?? ''}: ${issue?.message ?? 'invalid'}`)
  }
  return result.data
}

/** Parses and validates a signed receipt from a peer (signatures are checked by the caller). */
export function decodeReceiptMessage (bytes: Uint8Array): SignedReceipt {
  return decodeJson(bytes, receiptMessageSchema, 'receipt message') as SignedReceipt
}

/**
 * The server's answer to a receipt: `accepted` (stored for the epoch it names), `epoch-closed`
 * (that epoch is being claimed; sign the bytes not yet accepted for `epoch` instead),
 * `unavailable` (try again later: e.g. the server cannot reach the chain to check the grant)
 * or `rejected` (the receipt or grant is invalid; `message` says why).
 */
export type ReceiptAnswer =
  | { status: 'accepted' | 'epoch-closed' | 'unavailable', epoch: bigint, message?: string }
  | { status: 'rejected', epoch: bigint, message: string }

const receiptAnswerSchema = z.strictObject({
  status: z.enum(['accepted', 'epoch-closed', 'unavailable', 'rejected']),
  epoch: uint(64),
  message: z.string().max(500).optional()
})

/** JSON bytes of a receipt answer. */
export function encodeReceiptAnswer (answer: ReceiptAnswer): Uint8Array {
  return new TextEncoder().encode(JSON.stringify({ ...answer, epoch: decimal(answer.epoch) }))
}

/** Parses a server's answer to a receipt. */
export function decodeReceiptAnswer (bytes: Uint8Array): ReceiptAnswer {
  const answer = decodeJson(bytes, receiptAnswerSchema, 'receipt answer')
  if (answer.status === 'rejected' && answer.message === undefined) return { status: 'rejected', epoch: answer.epoch, message: 'rejected' }
  return answer as ReceiptAnswer
}

/** The epoch a server opens after `previous`: numbered by unix seconds, always increasing. */
export function nextEpoch (previous: bigint | undefined, unixMs: number): bigint {
  const now = BigInt(Math.floor(unixMs / 1000))
  return previous === undefined || now > previous ? now : previous + 1n
}
