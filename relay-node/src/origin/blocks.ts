/**
 * What the origin accepts as a block: sha2-256 multihashes over dag-pb (UnixFS nodes), raw
 * (sealed chunks) and dag-json (manifests). Every block from outside is hashed and compared
 * with its CID before it is stored, and `linksOf` walks exactly these codecs.
 */
import * as dagPb from '@ipld/dag-pb'
import * as dagJson from '@ipld/dag-json'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { verifyBlock } from '@peerloom/shared/block'
import { IntegrityError, InvalidParamsError } from '@peerloom/shared/errors'

export const SUPPORTED_CODECS: ReadonlySet<number> = new Set([dagPb.code, raw.code, dagJson.code])

/** Parses a CID from a URL or a request; throws InvalidParamsError naming the text. */
export function parseCid (text: string): CID {
  let cid: CID
  try {
    cid = CID.parse(text)
  } catch (err) {
    throw new InvalidParamsError(`"${text.slice(0, 100)}" is not a CID`, { cause: err })
  }
  return cid
}

/** Throws IntegrityError unless `cid` has a codec the origin stores and `bytes` hash to it (shared `verifyBlock`). */
export async function verifyOriginBlock (cid: CID, bytes: Uint8Array): Promise<void> {
  if (!SUPPORTED_CODECS.has(cid.code)) throw new IntegrityError(`block ${cid.toString()} has codec 0x${cid.code.toString(16)}; the origin stores dag-pb, raw and dag-json only`)
  await verifyBlock(cid, bytes)
}

/** The CIDs a block links to, in order (the order a depth-first CAR lists them). */
export function linksOf (cid: CID, bytes: Uint8Array): CID[] {
  if (cid.code === raw.code) return []
  if (cid.code === dagPb.code) return dagPb.decode(bytes).Links.map(link => link.Hash)
  if (cid.code === dagJson.code) {
    const links: CID[] = []
    const walk = (value: unknown): void => {
      const link = CID.asCID(value)
      if (link !== null) {
        links.push(link)
        return
      }
      if (Array.isArray(value)) value.forEach(walk)
      else if (value !== null && typeof value === 'object' && !(value instanceof Uint8Array)) Object.values(value).forEach(walk)
    }
    walk(dagJson.decode(bytes))
    return links
  }
  throw new IntegrityError(`cannot read links of codec 0x${cid.code.toString(16)}`)
}
