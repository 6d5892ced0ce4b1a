/** Byte encodings used by the formats: 0x-hex and unpadded base64url. */
import { getBytes, hexlify } from 'ethers'
import { base64url } from 'multiformats/bases/base64'
import { InvalidParamsError } from './errors.ts'

const HEX = /^0x(?:[0-9a-fA-F]{2})*$/
const B64URL = /^[A-Za-z0-9_-]*$/

/** Lower-case 0x-hex of `bytes`. */
export function toHex (bytes: Uint8Array): string {
  return hexlify(bytes)
}

/** Decodes 0x-hex, requiring `length` bytes when given. */
export function fromHex (hex: string, length?: number, what = 'value'): Uint8Array {
  if (typeof hex !== 'string' || !HEX.test(hex)) throw new InvalidParamsError(`${what} must be 0x-prefixed hex`)
  const bytes = getBytes(hex)
  if (length !== undefined && bytes.length !== length) throw new InvalidParamsError(`${what} must be ${length} bytes, got ${bytes.length}`)
  return bytes
}

/** Unpadded base64url of `bytes`. */
export function toBase64url (bytes: Uint8Array): string {
  return base64url.baseEncode(bytes)
}

/** Decodes unpadded base64url. */
export function fromBase64url (text: string, what = 'value'): Uint8Array {
  if (typeof text !== 'string' || !B64URL.test(text) || text.length % 4 === 1) throw new InvalidParamsError(`${what} must be unpadded base64url`)
  return base64url.baseDecode(text)
}

/** Fresh random bytes from the platform CSPRNG (any length: getRandomValues takes 64 KiB a call). */
export function randomBytes (length: number): Uint8Array {
  const out = new Uint8Array(length)
  for (let offset = 0; offset < length; offset += 65536) {
    globalThis.crypto.getRandomValues(out.subarray(offset, Math.min(length, offset + 65536)))
  }
  return out
}

/** Concatenates byte arrays. */
export function concatBytes (parts: readonly Uint8Array[]): Uint8Array {
  let length = 0
  for (const part of parts) length += part.length
  const out = new Uint8Array(length)
  let offset = 0
  for (const part of parts) {
    out.set(part, offset)
    offset += part.length
  }
  return out
}

/** Reads a byte stream to the end: one part is returned as is, several are concatenated. */
export async function collectBytes (source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = []
  for await (const part of source) parts.push(part)
  return parts.length === 1 ? parts[0] as Uint8Array : concatBytes(parts)
}
