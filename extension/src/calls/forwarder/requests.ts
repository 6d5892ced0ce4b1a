/**
 * What the node's document answers about its forwarder, beside the node's own requests
 * (node/rpc.ts): `forwarderStats` (what it forwards now, null while the role is off) and
 * `forwarderSample` (frames as they arrive from one sender, base64, for tests that check the
 * forwarder only ever holds ciphertext). Only the extension's own pages reach them, through the
 * service worker, like every node request.
 */
import { InvalidParamsError, TimeoutError, errorToWire } from '@peerloom/shared'
import { z } from 'zod'
import type { ForwarderService } from './service.ts'

/** A sample gives up after this. @default 20_000 */
const SAMPLE_TIMEOUT_MS = 20_000

const methods = {
  forwarderStats: z.undefined().or(z.strictObject({})),
  forwarderSample: z.strictObject({
    roomId: z.string().regex(/^0x[0-9a-f]{64}$/),
    peerId: z.string().min(1).max(128),
    kind: z.enum(['audio', 'video']),
    count: z.number().int().min(1).max(100)
  })
} as const

export type ForwarderRequest = keyof typeof methods

export function isForwarderRequest (method: unknown): method is ForwarderRequest {
  return typeof method === 'string' && Object.hasOwn(methods, method)
}

/** Answers one forwarder request as node requests are answered (`{ ok, result }` or `{ ok: false, error }`); never throws. */
export async function forwarderRequest (service: ForwarderService, method: ForwarderRequest, params: unknown): Promise<{ ok: true, result: unknown } | { ok: false, error: ReturnType<typeof errorToWire> }> {
  try {
    const parsed = methods[method].safeParse(params)
    if (!parsed.success) throw new InvalidParamsError(`${method}: ${parsed.error.issues[0]?.message ?? 'invalid parameters'}`)
    if (method === 'forwarderStats') return { ok: true, result: service.stats() ?? null }
    const p = parsed.data as z.output<typeof methods.forwarderSample>
    // frames stop when the sender does: the answer must not wait for ever
    const frames = await Promise.race([
      service.sampleFrames(p.roomId, p.peerId, p.kind, p.count),
      new Promise<never>((_resolve, reject) => setTimeout(() => { reject(new TimeoutError(`fewer than ${p.count} frames from ${p.peerId} within ${SAMPLE_TIMEOUT_MS / 1000} s`)) }, SAMPLE_TIMEOUT_MS))
    ])
    return { ok: true, result: frames.map(frame => ({ data: base64(new Uint8Array(frame.data)), ...(frame.type === undefined ? {} : { type: frame.type }) })) }
  } catch (err) {
    return { ok: false, error: errorToWire(err) }
  }
}

function base64 (bytes: Uint8Array): string {
  let binary = ''
  for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000))
  return btoa(binary)
}
