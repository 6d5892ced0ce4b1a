/**
 * Token-gated rooms (docs/CALLS.md, Token-gated rooms): how the publisher's tools register a
 * room in the ContentRegistry, and the key service's unencrypted `rekey` notice on the room
 * topic (room.ts's parseEnvelope reads it).
 *
 * @example
 * ```ts
 * await pubsub.publish(roomTopic(roomId), encodeRekeyNotice(2))
 * parseEnvelope(message.data) // { v: 1, notice: 'rekey', kv: 2 }
 * ```
 */

/**
 * What a gated room registers as its `manifestCid`: a room has no manifest, the registry needs
 * a non-empty string, and a reader can tell a room from content by it.
 */
export const GATED_ROOM_MANIFEST = 'peerloom-room/1'

/** The key service's hint that a room's key changed (members fetch key version `kv`): its bytes as published on the room topic (UTF-8 JSON). */
export function encodeRekeyNotice (kv: number): Uint8Array {
  if (!Number.isInteger(kv) || kv < 0 || kv > 0xffffffff) throw new RangeError(`key version ${kv} is not a uint32`)
  return new TextEncoder().encode(JSON.stringify({ v: 1, notice: 'rekey', kv }))
}
