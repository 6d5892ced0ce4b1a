/**
 * The manifest (docs/DESIGN.md, Formats): a dag-json block that names the ciphertext root and
 * everything needed to open it, signed by the publisher (EIP-191 personal-sign over the
 * dag-json bytes of the manifest without `signature`). Its CID is the content's address.
 */
import * as dagJson from '@ipld/dag-json'
import { CID } from 'multiformats/cid'
import { sha256 } from 'multiformats/hashes/sha2'
import { getAddress, isAddress, verifyMessage } from 'ethers'
import { z } from 'zod'
import { CIPHER_ID, MAX_CHUNK_SIZE, MIN_CHUNK_SIZE } from './cipher.ts'
import { BadManifestError, BadSignatureError } from './errors.ts'

export const MANIFEST_VERSION = 1
/** Largest manifest block accepted from a peer. */
export const MAX_MANIFEST_BYTES = 8 * 1024

export interface Manifest {
  v: 1
  /** 0x-hex, 32 bytes, lower case. */
  contentId: string
  name: string
  mime: string
  /** Plaintext bytes. */
  size: number
  chunkSize: number
  cipher: typeof CIPHER_ID
  keyVersion: number
  /** Root CID of the UnixFS ciphertext file. */
  root: CID
  /** EIP-55 address of the publisher. */
  publisher: string
  /** EIP-191 signature by `publisher` over `encodeUnsigned(manifest)`. */
  signature: string
}

export type UnsignedManifest = Omit<Manifest, 'signature'>

/** What signs a manifest: an ethers Signer or Wallet fits. */
export interface MessageSigner {
  getAddress: () => Promise<string>
  signMessage: (message: Uint8Array) => Promise<string>
}

const unsignedShape = {
  v: z.number(),
  contentId: z.string().regex(/^0x[0-9a-f]{64}$/, 'must be 0x followed by 64 lower-case hex digits'),
  name: z.string().max(255, 'must be at most 255 characters'),
  mime: z.string().min(1).max(255).regex(/^[\w.+-]+\/[\w.+-]+(?:\s*;.*)?$/, 'must be a MIME type like video/mp4'),
  size: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
  chunkSize: z.number().int().min(MIN_CHUNK_SIZE).max(MAX_CHUNK_SIZE),
  cipher: z.string(),
  keyVersion: z.number().int().min(0).max(0xffffffff),
  root: z.custom<CID>(value => CID.asCID(value) !== null, 'must be a CID link'),
  publisher: z.string().refine(value => isAddress(value), 'must be an Ethereum address')
}
const unsignedSchema = z.strictObject(unsignedShape)
const signedSchema = z.strictObject({ ...unsignedShape, signature: z.string().regex(/^0x[0-9a-fA-F]{130}$/, 'must be a 65-byte 0x-hex signature') })

function validate<T> (schema: z.ZodType<T>, value: unknown): T {
  const result = schema.safeParse(value)
  if (!result.success) {
    const issue = result.error.issues[0]
    const where = issue?.path.length === 0 ? 'manifest' : `manifest.${issue?.path.join('.') ?? ''}`
    throw new BadManifestError(`${where} ${issue?.message ?? 'is invalid'}`)
  }
  const parsed = result.data as { v: number, cipher: string }
  if (parsed.v !== MANIFEST_VERSION) throw new BadManifestError(`manifest version ${parsed.v} is not supported (this build reads version ${MANIFEST_VERSION})`)
  if (parsed.cipher !== CIPHER_ID) throw new BadManifestError(`manifest cipher "${parsed.cipher}" is not supported (this build reads "${CIPHER_ID}")`)
  return result.data
}

/** Builds an unsigned v1 manifest, normalising the content id and publisher. */
export function createManifest (fields: Omit<UnsignedManifest, 'v' | 'cipher' | 'keyVersion'> & { keyVersion?: number }): UnsignedManifest {
  const manifest: UnsignedManifest = {
    v: MANIFEST_VERSION,
    contentId: fields.contentId.toLowerCase(),
    name: fields.name,
    mime: fields.mime,
    size: fields.size,
    chunkSize: fields.chunkSize,
    cipher: CIPHER_ID,
    keyVersion: fields.keyVersion ?? 1,
    root: fields.root,
    publisher: isAddress(fields.publisher) ? getAddress(fields.publisher) : fields.publisher
  }
  return validate(unsignedSchema, manifest) as UnsignedManifest
}

/** The bytes the publisher signs: dag-json of the manifest without `signature`. */
export function encodeUnsigned (manifest: UnsignedManifest | Manifest): Uint8Array {
  const { signature: _signature, ...unsigned } = manifest as Manifest
  return dagJson.encode(unsigned)
}

/** Signs `manifest` with `signer`, which must be its publisher. */
export async function signManifest (manifest: UnsignedManifest, signer: MessageSigner): Promise<Manifest> {
  const address = await signer.getAddress()
  if (getAddress(address) !== getAddress(manifest.publisher)) {
    throw new BadSignatureError(`signer ${address} is not the manifest's publisher ${manifest.publisher}`)
  }
  const signature = await signer.signMessage(encodeUnsigned(manifest))
  return { ...manifest, signature }
}

/** Throws BadSignatureError unless `manifest.signature` was made by `manifest.publisher`. */
export function verifyManifest (manifest: Manifest): void {
  let recovered: string
  try {
    recovered = verifyMessage(encodeUnsigned(manifest), manifest.signature)
  } catch (err) {
    throw new BadSignatureError('manifest signature is malformed', { cause: err })
  }
  if (getAddress(recovered) !== getAddress(manifest.publisher)) {
    throw new BadSignatureError(`manifest is signed by ${recovered}, not by its publisher ${manifest.publisher}`)
  }
}

/** The dag-json block of a signed manifest. */
export function encodeManifest (manifest: Manifest): Uint8Array {
  validate(signedSchema, manifest)
  return dagJson.encode(manifest)
}

/** CIDv1 (dag-json, sha2-256) of encoded manifest bytes. */
export async function manifestCid (bytes: Uint8Array): Promise<CID> {
  return CID.createV1(dagJson.code, await sha256.digest(bytes))
}

/** Decodes and validates a manifest block and verifies its signature. */
export function decodeManifest (bytes: Uint8Array): Manifest {
  if (bytes.length > MAX_MANIFEST_BYTES) throw new BadManifestError(`manifest is ${bytes.length} bytes; at most ${MAX_MANIFEST_BYTES} are allowed`)
  let value: unknown
  try {
    value = dagJson.decode(bytes)
  } catch (err) {
    throw new BadManifestError('manifest is not valid dag-json', { cause: err })
  }
  const manifest = validate(signedSchema, value) as Manifest
  verifyManifest(manifest)
  return manifest
}
