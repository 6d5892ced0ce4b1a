/**
 * Gated content keys (docs/DESIGN.md, Publishing and the origin): the viewer signs an EIP-4361-style
 * request naming the content; the publisher's key service checks the access policy and answers
 * with the content key wrapped to the viewer's public key (ECIES on secp256k1) and a signed
 * Grant. The viewer's public key is recovered from the request's signature, so the request
 * needs no extra key field and a key can only be unwrapped by the signer.
 *
 * @example
 * ```ts
 * const signed = await signKeyRequest(wallet, createKeyRequest({ domain, uri, chainId, contentId }))
 * const { request, publicKey } = verifyKeyRequest(signed, { domain })
 * const wrapped = wrapContentKey(publicKey, contentKey)
 * const key = unwrapContentKey(wallet.privateKey, wrapped)
 * ```
 */
import { SigningKey, getAddress, hashMessage, isAddress, verifyMessage } from 'ethers'
import { decrypt, encrypt } from 'eciesjs'
import { z } from 'zod'
import { fromHex, randomBytes, toHex } from './bytes.ts'
import { CONTENT_KEY_BYTES } from './cipher.ts'
import { BadSignatureError, IntegrityError, InvalidParamsError } from './errors.ts'

/** The human-readable line in every key request. */
export const KEY_REQUEST_STATEMENT = 'Request the key to Peerloom content. This signature costs nothing and moves no funds.'
/** How long a key request stays valid. @default 5 minutes */
export const KEY_REQUEST_TTL_MS = 5 * 60 * 1000
/** Clock skew tolerated between viewer and key service. @default 60 s */
export const KEY_REQUEST_SKEW_MS = 60 * 1000
/** Largest request message accepted. */
export const MAX_KEY_REQUEST_BYTES = 2048

export interface KeyRequest {
  /** Host of the key service (e.g. `origin.example:8080`); a signed request is only good there. */
  domain: string
  /** The viewer's address. */
  address: string
  /** The key service endpoint URL. */
  uri: string
  chainId: number
  /** Single-use random value. */
  nonce: string
  issuedAt: string
  expirationTime: string
  /** 0x-hex content id. */
  contentId: string
}

export interface SignedKeyRequest {
  message: string
  signature: string
}

/** Builds a fresh request valid for `ttlMs` from now. */
export function createKeyRequest (fields: { domain: string, address: string, uri: string, chainId: number, contentId: string, now?: number, ttlMs?: number }): KeyRequest {
  const now = fields.now ?? Date.now()
  return {
    domain: fields.domain,
    address: getAddress(fields.address),
    uri: fields.uri,
    chainId: fields.chainId,
    nonce: toHex(randomBytes(16)).slice(2),
    issuedAt: new Date(now).toISOString(),
    expirationTime: new Date(now + (fields.ttlMs ?? KEY_REQUEST_TTL_MS)).toISOString(),
    contentId: fields.contentId.toLowerCase()
  }
}

/** The EIP-4361 text of a request. */
export function formatKeyRequest (r: KeyRequest): string {
  return [
    `${r.domain} wants you to sign in with your Ethereum account:`,
    getAddress(r.address),
    '',
    KEY_REQUEST_STATEMENT,
    '',
    `URI: ${r.uri}`,
    'Version: 1',
    `Chain ID: ${r.chainId}`,
    `Nonce: ${r.nonce}`,
    `Issued At: ${r.issuedAt}`,
    `Expiration Time: ${r.expirationTime}`,
    'Resources:',
    `- peerloom:content:${r.contentId}`
  ].join('\n')
}

const MESSAGE = new RegExp([
  '^(?<domain>[A-Za-z0-9.:\\[\\]-]{1,255}) wants you to sign in with your Ethereum account:',
  '(?<address>0x[0-9a-fA-F]{40})',
  '',
  KEY_REQUEST_STATEMENT.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'),
  '',
  'URI: (?<uri>\\S{1,512})',
  'Version: 1',
  'Chain ID: (?<chainId>\\d{1,15})',
  'Nonce: (?<nonce>[A-Za-z0-9]{8,64})',
  'Issued At: (?<issuedAt>\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d(?:\\.\\d+)?Z)',
  'Expiration Time: (?<expirationTime>\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d(?:\\.\\d+)?Z)',
  'Resources:',
  '- peerloom:content:(?<contentId>0x[0-9a-f]{64})$'
].join('\\n'))

/** Parses the EIP-4361 text of a key request; throws InvalidParamsError if it is not exactly one. */
export function parseKeyRequest (message: string): KeyRequest {
  if (typeof message !== 'string' || message.length > MAX_KEY_REQUEST_BYTES) throw new InvalidParamsError('key request must be a message of at most 2048 characters')
  const match = MESSAGE.exec(message)
  if (match?.groups === undefined) throw new InvalidParamsError('key request is not a Peerloom EIP-4361 message')
  const g = match.groups as Record<keyof KeyRequest, string>
  if (!isAddress(g.address)) throw new InvalidParamsError('key request address is not an Ethereum address')
  return { domain: g.domain, address: getAddress(g.address), uri: g.uri, chainId: Number(g.chainId), nonce: g.nonce, issuedAt: g.issuedAt, expirationTime: g.expirationTime, contentId: g.contentId }
}

/** Signs a request (EIP-191 personal-sign over its text). */
export async function signKeyRequest (signer: { signMessage: (message: string) => Promise<string> }, request: KeyRequest): Promise<SignedKeyRequest> {
  const message = formatKeyRequest(request)
  return { message, signature: await signer.signMessage(message) }
}

/**
 * Checks a signed request for `domain`: the text parses, the signature is the named address's,
 * and it is inside its validity window. Returns the request and the signer's uncompressed
 * public key (to wrap the content key to). Replay within the window is the service's to stop
 * (remember nonces until they expire).
 */
export function verifyKeyRequest (signed: SignedKeyRequest, options: { domain: string, chainId?: number, now?: number }): { request: KeyRequest, publicKey: string } {
  const request = parseKeyRequest(signed.message)
  if (request.domain !== options.domain) throw new BadSignatureError(`key request is for ${request.domain}, not ${options.domain}`)
  if (options.chainId !== undefined && request.chainId !== options.chainId) throw new BadSignatureError(`key request is for chain ${request.chainId}, not ${options.chainId}`)
  const now = options.now ?? Date.now()
  const issued = Date.parse(request.issuedAt)
  const expires = Date.parse(request.expirationTime)
  if (!(issued <= now + KEY_REQUEST_SKEW_MS)) throw new BadSignatureError('key request is issued in the future: check the clock')
  if (!(expires > now - KEY_REQUEST_SKEW_MS) || expires - issued > 24 * 60 * 60 * 1000) throw new BadSignatureError('key request has expired: sign a new one')
  let signer: string
  let publicKey: string
  try {
    signer = verifyMessage(signed.message, signed.signature)
    publicKey = SigningKey.recoverPublicKey(hashMessage(signed.message), signed.signature)
  } catch (err) {
    throw new BadSignatureError('key request signature is malformed', { cause: err })
  }
  if (signer !== request.address) throw new BadSignatureError(`key request is signed by ${signer}, not by ${request.address}`)
  return { request, publicKey }
}

/** Encrypts a content key to an uncompressed or compressed secp256k1 public key (ECIES). */
export function wrapContentKey (publicKey: string, contentKey: Uint8Array): Uint8Array {
  if (contentKey.length !== CONTENT_KEY_BYTES) throw new InvalidParamsError(`content key must be ${CONTENT_KEY_BYTES} bytes`)
  return encrypt(fromHex(publicKey, undefined, 'public key'), contentKey)
}

/** Decrypts a wrapped content key with the viewer's private key. */
export function unwrapContentKey (privateKey: string | Uint8Array, wrapped: Uint8Array): Uint8Array {
  let key: Uint8Array
  try {
    key = decrypt(typeof privateKey === 'string' ? fromHex(privateKey, 32, 'private key') : privateKey, wrapped)
  } catch (err) {
    throw new IntegrityError('wrapped content key does not open with this key', { cause: err })
  }
  if (key.length !== CONTENT_KEY_BYTES) throw new IntegrityError(`unwrapped content key is ${key.length} bytes, not ${CONTENT_KEY_BYTES}`)
  return key
}

/** The key service's answer to an accepted request. */
export const keyGrantSchema = z.strictObject({
  contentId: z.string().regex(/^0x[0-9a-f]{64}$/),
  keyVersion: z.number().int().min(0),
  /** Manifest CID for this key version. */
  manifest: z.string().min(1).max(128),
  /** ECIES ciphertext of the content key, 0x-hex. */
  wrappedKey: z.string().regex(/^0x[0-9a-f]+$/).max(512),
  grant: z.strictObject({
    client: z.string().refine(isAddress, 'must be an address'),
    contentId: z.string().regex(/^0x[0-9a-f]{64}$/),
    maxBytes: z.string().regex(/^\d{1,78}$/),
    expiry: z.string().regex(/^\d{1,20}$/)
  }),
  grantSignature: z.string().regex(/^0x[0-9a-fA-F]{130}$/)
})
export type KeyGrant = z.output<typeof keyGrantSchema>
