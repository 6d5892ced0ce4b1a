/**
 * The link format (docs/DESIGN.md, Formats): `peerloom://<manifest CID, base32 CIDv1>`, optionally
 * followed by `#k=<content key, base64url without padding>`. The key rides in the fragment so
 * it never reaches a server.
 */
import { CID } from 'multiformats/cid'
import { base32 } from 'multiformats/bases/base32'
import * as dagJson from '@ipld/dag-json'
import { CONTENT_KEY_BYTES } from './cipher.ts'
import { fromBase64url, toBase64url } from './bytes.ts'
import { BadLinkError } from './errors.ts'

export const LINK_SCHEME = 'peerloom://'
/** Longest link accepted; a real one is about 110 characters. */
export const MAX_LINK_LENGTH = 512

export interface PeerloomLink {
  /** CID of the dag-json manifest. */
  manifest: CID
  /** The 32-byte content key, for public or unlisted content; absent for gated content. */
  key?: Uint8Array
}

/** Parses a link; throws BadLinkError naming what is wrong. */
export function parseLink (link: string): PeerloomLink {
  if (typeof link !== 'string') throw new BadLinkError('link must be a string')
  if (link.length > MAX_LINK_LENGTH) throw new BadLinkError(`link is ${link.length} characters; at most ${MAX_LINK_LENGTH} are allowed`)
  if (!link.startsWith(LINK_SCHEME)) throw new BadLinkError(`link must start with ${LINK_SCHEME}`)
  const rest = link.slice(LINK_SCHEME.length)
  const hash = rest.indexOf('#')
  const cidText = hash === -1 ? rest : rest.slice(0, hash)
  const fragment = hash === -1 ? undefined : rest.slice(hash + 1)

  if (!/^b[a-z2-7]+$/.test(cidText)) throw new BadLinkError('link must name the manifest as a base32 CIDv1 (starting with "b")')
  let manifest: CID
  try {
    manifest = CID.parse(cidText, base32)
  } catch (err) {
    throw new BadLinkError('link names no valid CID', { cause: err })
  }
  if (manifest.version !== 1 || manifest.code !== dagJson.code) throw new BadLinkError('link must name a dag-json CIDv1 manifest')
  if (fragment === undefined) return { manifest }

  if (!fragment.startsWith('k=')) throw new BadLinkError('link fragment must be "#k=<content key>"')
  let key: Uint8Array
  try {
    key = fromBase64url(fragment.slice(2), 'content key')
  } catch (err) {
    throw new BadLinkError('link key must be unpadded base64url', { cause: err })
  }
  if (key.length !== CONTENT_KEY_BYTES) throw new BadLinkError(`link key must be ${CONTENT_KEY_BYTES} bytes, got ${key.length}`)
  return { manifest, key }
}

/** Formats a link; the key, when given, goes in the fragment. */
export function formatLink ({ manifest, key }: PeerloomLink): string {
  if (manifest.version !== 1 || manifest.code !== dagJson.code) throw new BadLinkError('a link must name a dag-json CIDv1 manifest')
  if (key !== undefined && key.length !== CONTENT_KEY_BYTES) throw new BadLinkError(`link key must be ${CONTENT_KEY_BYTES} bytes, got ${key.length}`)
  const base = LINK_SCHEME + manifest.toString(base32)
  return key === undefined ? base : `${base}#k=${toBase64url(key)}`
}
