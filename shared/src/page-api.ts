/**
 * The page API contract (`window.peerloom`, docs/DESIGN.md "Page API"): method names, parameter
 * schemas, result shapes and the provider type sites program against. The injected script,
 * the extension's handler and the SDK all validate with these schemas, so a malformed call is
 * refused the same way everywhere, with a code.
 *
 * @example
 * ```ts
 * const { peerId } = await window.peerloom.connect()
 * const response = await window.peerloom.fetch(link, { headers: { Range: 'bytes=0-1023' } })
 * ```
 */
import { z } from 'zod'
import { MAX_LINK_LENGTH } from './link.ts'
import { MAX_CHUNK_SIZE, MIN_CHUNK_SIZE } from './cipher.ts'
import { InvalidParamsError, UnsupportedMethodError } from './errors.ts'
import { MAX_CHAT_TEXT, MAX_NAME_LENGTH, mediaFlagsSchema, peerIdSchema, shortIdSchema, signalDataSchema } from './calls/room.ts'

export * from './provider.ts'

/** Largest file `publish` accepts from a page. @default 4 GiB */
export const MAX_PUBLISH_BYTES = 4 * 1024 ** 3
/** Calls one origin may make per second before RATE_LIMITED. @default 50 */
export const DEFAULT_CALLS_PER_SECOND = 50

const link = z.string().min(1).max(MAX_LINK_LENGTH)
const rangeHeader = z.string().max(100)
/** A call's id as `peerloom_callJoin` answered it. */
const callId = shortIdSchema
/** Most peers a call names at once (forwarders, failed connections): a room holds at most 32 participants. */
const MAX_CALL_PEERS = 32

/** Parameter schemas, one per method. Objects are strict: unknown keys are refused. */
export const methodParams = {
  peerloom_connect: z.strictObject({ prompt: z.boolean().optional() }),
  peerloom_fetch: z.strictObject({ link, range: rangeHeader.optional() }),
  peerloom_publish: z.strictObject({
    name: z.string().min(1).max(255),
    mime: z.string().min(1).max(255).regex(/^[\w.+-]+\/[\w.+-]+$/, 'must be a MIME type like video/webm'),
    size: z.number().int().min(0).max(MAX_PUBLISH_BYTES),
    chunkSize: z.number().int().min(MIN_CHUNK_SIZE).max(MAX_CHUNK_SIZE).optional(),
    contentId: z.string().regex(/^0x[0-9a-fA-F]{64}$/, 'must be 0x followed by 64 hex digits').optional()
  }),
  peerloom_stats: z.strictObject({}),
  peerloom_contentStats: z.strictObject({}),
  peerloom_player: z.strictObject({ link }),
  // calls (docs/CALLS.md, Page API; shared/src/calls/api.ts): the room name's own rules are checked by the node (5000)
  peerloom_callJoin: z.strictObject({ room: z.string().min(1).max(128), name: z.string().max(MAX_NAME_LENGTH), media: mediaFlagsSchema }),
  peerloom_callSignal: z.strictObject({ callId, to: peerIdSchema, sid: shortIdSchema, data: signalDataSchema }),
  peerloom_callForwarderSignal: z.strictObject({ callId, forwarder: peerIdSchema, data: signalDataSchema }),
  peerloom_callSeal: z.strictObject({ callId, text: z.string().min(1).max(MAX_CHAT_TEXT) }),
  peerloom_callOpen: z.strictObject({ callId, from: peerIdSchema, sealed: z.string().min(1).max(40_000) }),
  peerloom_callStats: z.strictObject({
    callId,
    forwarderBytes: z.record(peerIdSchema, z.number().int().min(0).max(Number.MAX_SAFE_INTEGER)).refine(r => Object.keys(r).length <= MAX_CALL_PEERS, `at most ${MAX_CALL_PEERS} forwarders`),
    failed: z.array(peerIdSchema).max(MAX_CALL_PEERS).optional()
  }),
  peerloom_callMedia: z.strictObject({ callId, media: mediaFlagsSchema }),
  peerloom_callLeave: z.strictObject({ callId })
} as const

export type PageMethod = keyof typeof methodParams
export type PageParams<M extends PageMethod> = z.output<(typeof methodParams)[M]>

export const PAGE_METHODS = Object.keys(methodParams) as PageMethod[]

/** A request as a page sends it: `{ method, params }` (EIP-1193). */
export interface PageRequest<M extends PageMethod = PageMethod> {
  method: M
  params?: PageParams<M>
}

/** Checks a page's `{ method, params }`; throws UnsupportedMethodError (4200) or InvalidParamsError (5000). */
export function validatePageRequest (request: unknown): { method: PageMethod, params: PageParams<PageMethod> } {
  if (typeof request !== 'object' || request === null || Array.isArray(request)) throw new InvalidParamsError('request must be an object { method, params }')
  const { method, params, ...rest } = request as Record<string, unknown>
  if (Object.keys(rest).length > 0) throw new InvalidParamsError(`request has unknown fields: ${Object.keys(rest).slice(0, 3).join(', ')}`)
  if (typeof method !== 'string' || !Object.hasOwn(methodParams, method)) {
    throw new UnsupportedMethodError(`method ${typeof method === 'string' ? `"${method.slice(0, 60)}"` : `of type ${typeof method}`} is not supported; use one of ${PAGE_METHODS.join(', ')}`)
  }
  const schema = methodParams[method as PageMethod]
  const result = schema.safeParse(params ?? {})
  if (!result.success) {
    const issue = result.error.issues[0]
    const where = issue === undefined || issue.path.length === 0 ? 'params' : `params.${issue.path.join('.')}`
    throw new InvalidParamsError(`${method}: ${where} ${issue?.message ?? 'is invalid'}`)
  }
  return { method: method as PageMethod, params: result.data }
}
