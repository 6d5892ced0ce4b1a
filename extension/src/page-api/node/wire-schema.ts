/**
 * Checks what arrives on a page's port before the node looks at it. A page controls every
 * byte of these messages, so nothing is trusted: shapes are strict, ids and credits bounded,
 * data chunks capped.
 */
import { InvalidParamsError } from '@peerloom/shared'
import { z } from 'zod'
import type { PageMessage } from '../wire.ts'
import { MAX_DATA_CHUNK_BYTES, MAX_CREDIT } from '../constants.ts'

const id = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER)

const pageMessage = z.discriminatedUnion('t', [
  z.strictObject({ t: z.literal('req'), id, method: z.unknown(), params: z.unknown().optional() }),
  z.strictObject({ t: z.literal('credit'), id, n: z.number().int().min(1).max(MAX_CREDIT) }),
  z.strictObject({ t: z.literal('cancel'), id }),
  z.strictObject({ t: z.literal('data'), id, bytes: z.instanceof(ArrayBuffer).refine(b => b.byteLength > 0 && b.byteLength <= MAX_DATA_CHUNK_BYTES, `a data chunk must hold 1 to ${MAX_DATA_CHUNK_BYTES} bytes`) }),
  z.strictObject({ t: z.literal('end'), id })
])

/** The message, checked; throws InvalidParamsError (5000) naming what is wrong. */
export function parsePageMessage (data: unknown): PageMessage {
  const result = pageMessage.safeParse(data)
  if (!result.success) {
    const issue = result.error.issues[0]
    throw new InvalidParamsError(`malformed message: ${issue === undefined ? 'invalid' : `${issue.path.join('.') || 'message'} ${issue.message}`}`)
  }
  return result.data as PageMessage
}

/** The id of a message that failed to parse, when it has a usable one (so the page can match the error). */
export function messageId (data: unknown): number | null {
  const value = (typeof data === 'object' && data !== null) ? (data as { id?: unknown }).id : undefined
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0 ? value : null
}
