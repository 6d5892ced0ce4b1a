/**
 * The publisher's offload report for one content: bytes the origin served (its own ledger,
 * served.ts) against bytes peers delivered, as claimed on chain (the registry's RewardPaid
 * events: receipts a viewer signed and a peer claimed). A delivery counts on the peers' side
 * only once it is claimed, so recent unclaimed deliveries appear after the peers' next claim.
 */
import { InvalidParamsError, NotFoundError, isPeerloomError, parseLink } from '@peerloom/shared'
import { parseCid } from './blocks.ts'
import type { ServedCounts } from './served.ts'
import type { PublishedRecord } from './store.ts'

/** `GET /api/v1/report/{id}` and `peerloom report --json`. */
export interface OffloadReport {
  contentId: string
  name: string
  /** Manifest CIDs this origin published for the content (more than one after a key rotation). */
  manifests: string[]
  /** Block bytes the origin served, since `since`. */
  originBytes: number
  /** Bytes peers were paid for on chain (receipted and claimed); null when the chain was not read. */
  peerBytes: number | null
  /** RewardPaid events the peer bytes add up (one per content in each claim). */
  peerClaims: number | null
  /** peerBytes / (peerBytes + originBytes); null when unknown or nothing was delivered. */
  offloadRatio: number | null
  /** When the origin started counting what it served for this content (ISO 8601). */
  since: string
  /** Why peerBytes is null: no chain configured, or the chain could not be read. */
  peerBytesUnavailable?: string
}

/** Where a report's numbers come from. */
export interface ReportSources {
  records: PublishedRecord[]
  counts: (contentId: string) => ServedCounts | undefined
  /** Bytes claimed on chain for a content id; absent when no chain is configured. */
  claimed?: (contentId: string) => Promise<{ bytes: bigint, claims: number }>
  /** What to say when `claimed` is absent. */
  noChain: string
}

const CONTENT_ID = /^0x[0-9a-fA-F]{64}$/

/** A `peerloom://` link, a manifest CID or a 0x content id → the content id this origin published. */
export function resolveContentId (id: string, records: PublishedRecord[]): string {
  const text = id.trim()
  if (CONTENT_ID.test(text)) {
    const contentId = text.toLowerCase()
    if (!records.some(record => record.contentId.toLowerCase() === contentId)) throw new NotFoundError(`this origin has not published content ${contentId}`)
    return contentId
  }
  let manifest: string
  if (text.startsWith('peerloom://')) {
    manifest = parseLink(text).manifest.toString()
  } else {
    try {
      manifest = parseCid(text).toString()
    } catch {
      throw new InvalidParamsError(`"${text.slice(0, 100)}" is neither a peerloom:// link, a manifest CID nor a content id (0x and 64 hex digits)`)
    }
  }
  const record = records.find(candidate => candidate.manifest === manifest)
  if (record === undefined) throw new NotFoundError(`this origin has not published manifest ${manifest}`)
  return record.contentId.toLowerCase()
}

/** Builds the report for `id` (link, manifest CID or content id). */
export async function offloadReport (id: string, sources: ReportSources): Promise<OffloadReport> {
  const contentId = resolveContentId(id, sources.records)
  const mine = sources.records.filter(record => record.contentId.toLowerCase() === contentId)
  const counts = sources.counts(contentId)
  const originBytes = counts?.bytes ?? 0
  let peerBytes: number | null = null
  let peerClaims: number | null = null
  let unavailable: string | undefined = sources.claimed === undefined ? sources.noChain : undefined
  if (sources.claimed !== undefined) {
    try {
      const claimed = await sources.claimed(contentId)
      peerBytes = Number(claimed.bytes)
      peerClaims = claimed.claims
    } catch (err) {
      // the origin's half is still worth answering with
      unavailable = isPeerloomError(err) ? err.message : `the chain could not be read: ${(err as Error).message}`
    }
  }
  const total = (peerBytes ?? 0) + originBytes
  return {
    contentId,
    name: mine.at(-1)?.name ?? '',
    manifests: mine.map(record => record.manifest),
    originBytes,
    peerBytes,
    peerClaims,
    offloadRatio: peerBytes === null || total === 0 ? null : peerBytes / total,
    since: counts?.since ?? mine[0]?.publishedAt ?? new Date().toISOString(),
    ...(unavailable === undefined ? {} : { peerBytesUnavailable: unavailable })
  }
}
