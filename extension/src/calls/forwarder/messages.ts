/**
 * FORWARD_PROTOCOL messages (docs/CALLS.md, Forwarders): length-prefixed UTF-8 JSON, one
 * object per frame, `type` first. Both ends (the forwarder service and a participant's
 * forwarder client) parse with `decodeForwardMessage`, which turns anything malformed into
 * an InvalidParamsError (5000) rather than a crash.
 */
import { InvalidParamsError } from '@peerloom/shared'
import { z } from 'zod'

/** Largest message on a forward stream: an offer for a full room (32 participants × 2 m-lines) fits with room to spare. */
export const MAX_FORWARD_MESSAGE_BYTES = 256 * 1024

const peerId = z.string().min(1).max(128).regex(/^[1-9A-HJ-NP-Za-km-z]+$/, 'must be a base58 peer id')
const roomId = z.string().regex(/^0x[0-9a-f]{64}$/, 'must be 0x + 64 lowercase hex digits')

const description = z.strictObject({
  type: z.enum(['offer', 'answer']),
  sdp: z.string().min(1).max(200_000)
})

const candidate = z.strictObject({
  candidate: z.string().max(2048).optional(),
  sdpMid: z.string().max(64).nullable().optional(),
  sdpMLineIndex: z.number().int().min(0).max(1024).nullable().optional(),
  usernameFragment: z.string().max(256).nullable().optional()
})

export const signalDataSchema = z.union([
  z.strictObject({ sdp: description }),
  z.strictObject({ candidate: candidate.nullable() })
])

export const forwardMessageSchema = z.discriminatedUnion('type', [
  z.strictObject({
    type: z.literal('attach'),
    roomId,
    /** The participant's display name (the forwarder shows it nowhere; kept for logs and stats). */
    name: z.string().min(1).max(64),
    /** Other forwarders members of the room use: the forwarder opens a cascade to those with a higher peer id. */
    forwarders: z.array(peerId).max(32).optional()
  }),
  z.strictObject({ type: z.literal('attached') }),
  z.strictObject({ type: z.literal('error'), code: z.number().int().min(0).max(99_999), message: z.string().max(2000) }),
  z.strictObject({ type: z.literal('signal'), data: signalDataSchema }),
  z.strictObject({ type: z.literal('tracks'), mids: z.record(z.string().min(1).max(64), peerId).refine(m => Object.keys(m).length <= 256, 'at most 256 mids') }),
  z.strictObject({ type: z.literal('detach') }),
  z.strictObject({ type: z.literal('cascade'), roomId })
])

export type ForwardMessage = z.output<typeof forwardMessageSchema>

const encoder = new TextEncoder()
const decoder = new TextDecoder('utf-8', { fatal: true })

export function encodeForwardMessage (message: ForwardMessage): Uint8Array {
  return encoder.encode(JSON.stringify(message))
}

/** Parses one frame; throws InvalidParamsError (5000) naming what is wrong. */
export function decodeForwardMessage (bytes: Uint8Array): ForwardMessage {
  let value: unknown
  try {
    value = JSON.parse(decoder.decode(bytes))
  } catch {
    throw new InvalidParamsError('forward message is not UTF-8 JSON')
  }
  const parsed = forwardMessageSchema.safeParse(value)
  if (!parsed.success) {
    const issue = parsed.error.issues[0]
    throw new InvalidParamsError(`malformed forward message${issue === undefined ? '' : ` at ${issue.path.join('.') || '(root)'}: ${issue.message}`}`)
  }
  return parsed.data
}
