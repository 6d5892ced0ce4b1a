/**
 * Token-gated rooms (docs/CALLS.md, Token-gated rooms): how the publisher's tools register a
 * room in the ContentRegistry, and the key service's unencrypted `rekey` notice on the room
 * topic. No dependencies, so the node and the relay read the same format.
 *
 * @example
 * ```ts
 * pubsub.publish(topic, encodeRekeyNotice(2))
 * const notice = parseRekeyNotice(message.data) // { v: 1, notice: 'rekey', kv: 2 } or undefined
 * ```
 */

/**
 * What a gated room registers as its `manifestCid`: a room has no manifest, the registry needs
 * a non-empty string, and a reader can tell a room from content by it.
 */
export const GATED_ROOM_MANIFEST = 'peerloom-room/1'

/** The key service's hint that a room's key changed: members fetch key version `kv`. */
export interface RekeyNotice {
  v: 1
  notice: 'rekey'
  kv: number
}

/** The notice's bytes as published on the room topic (UTF-8 JSON). */
export function encodeRekeyNotice (kv: number): Uint8Array {
  if (!Number.isInteger(kv) || kv < 0 || kv > 0xffffffff) throw new RangeError(`key version ${kv} is not a uint32`)
  return new TextEncoder().encode(JSON.stringify({ v: 1, notice: 'rekey', kv }))
}

/** The notice in `data`, or undefined when `data` is anything else (an envelope, junk). */
export function parseRekeyNotice (data: Uint8Array): RekeyNotice | undefined {
  if (data.length > 256) return undefined
  let value: unknown
  try {
    value = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(data))
  } catch {
    return undefined
  }
  if (typeof value !== 'object' || value === null) return undefined
  const { v, notice, kv } = value as Record<string, unknown>
  if (v !== 1 || notice !== 'rekey' || typeof kv !== 'number' || !Number.isInteger(kv) || kv < 0 || kv > 0xffffffff) return undefined
  return { v: 1, notice: 'rekey', kv }
}
