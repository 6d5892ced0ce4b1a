/**
 * What the origin itself served, per content id: block bytes sent by the trustless gateway and
 * over bitswap, the origin's half of the publisher's offload report (the peers' half is on chain).
 * Blocks map to their content through the published manifests' DAGs; a block that belongs to no
 * published content (an upload not committed yet) is not counted. Kept in `<data>/served.json`,
 * written a few seconds after a change and at stop, so the counts survive restarts.
 */
import { readFile, rename, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { CID } from 'multiformats/cid'
import { DATA_FILES } from '../constants.ts'
import type { OriginStore, PublishedRecord } from './store.ts'

/** How long a change may wait before it is written to disk. @default 5_000 */
export const SERVED_FLUSH_MS = 5_000

/** The origin's counts for one content id. */
export interface ServedCounts {
  /** Block bytes the origin sent (gateway and bitswap). */
  bytes: number
  blocks: number
  gatewayBytes: number
  bitswapBytes: number
  /** When the origin started counting for this content (ISO 8601). */
  since: string
}

interface LedgerFile {
  version: 1
  /** When this origin started counting at all; content published earlier is counted from here. */
  since: string
  contents: Record<string, ServedCounts>
}

export class ServedLedger {
  private readonly file: string
  private readonly store: OriginStore
  /** Block CID → content id, for every published content's blocks. */
  private readonly contentOf = new Map<string, string>()
  private contents: Record<string, ServedCounts> = {}
  private since = new Date().toISOString()
  private timer?: NodeJS.Timeout
  private writing: Promise<void> = Promise.resolve()
  private readonly onError: (err: Error) => void

  constructor (dataDir: string, store: OriginStore, onError: (err: Error) => void = () => {}) {
    this.file = join(dataDir, DATA_FILES.served)
    this.store = store
    this.onError = onError
  }

  /** Loads the counts and indexes the blocks of every published content. */
  async open (onBadRecord?: (file: string, err: Error) => void): Promise<void> {
    try {
      const parsed = JSON.parse(await readFile(this.file, 'utf8')) as Partial<LedgerFile>
      if (parsed.version === 1 && typeof parsed.contents === 'object' && parsed.contents !== null) {
        this.contents = parsed.contents
        if (typeof parsed.since === 'string') this.since = parsed.since
      }
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') this.onError(new Error(`${this.file} is unreadable (${(err as Error).message}); counting starts again from zero`))
    }
    for (const record of await this.store.list(onBadRecord)) await this.index(record)
  }

  /** Starts counting the blocks of a newly published record. */
  async index (record: PublishedRecord): Promise<void> {
    const contentId = record.contentId.toLowerCase()
    for (const cid of await this.store.blocksOf(record)) if (!this.contentOf.has(cid)) this.contentOf.set(cid, contentId)
    // ISO 8601 strings in UTC order as the times they name
    const since = record.publishedAt > this.since ? record.publishedAt : this.since
    this.contents[contentId] ??= { bytes: 0, blocks: 0, gatewayBytes: 0, bitswapBytes: 0, since }
  }

  /** The content a block belongs to, if it belongs to published content. */
  contentIdOf (cid: CID): string | undefined {
    return this.contentOf.get(cid.toString())
  }

  /** Counts one block the origin sent. */
  note (cid: CID, bytes: number, via: 'gateway' | 'bitswap'): void {
    const contentId = this.contentOf.get(cid.toString())
    if (contentId === undefined) return
    const counts = this.contents[contentId] as ServedCounts
    counts.bytes += bytes
    counts.blocks++
    if (via === 'gateway') counts.gatewayBytes += bytes
    else counts.bitswapBytes += bytes
    this.timer ??= setTimeout(() => { void this.flush() }, SERVED_FLUSH_MS).unref()
  }

  /** The counts for `contentId`, or undefined when this origin has not published it. */
  counts (contentId: string): ServedCounts | undefined {
    const counts = this.contents[contentId.toLowerCase()]
    return counts === undefined ? undefined : { ...counts }
  }

  /** Writes the counts now (atomically: a crash leaves the previous file). */
  async flush (): Promise<void> {
    clearTimeout(this.timer)
    this.timer = undefined
    const text = JSON.stringify({ version: 1, since: this.since, contents: this.contents } satisfies LedgerFile, null, 2) + '\n'
    this.writing = this.writing.then(async () => {
      await writeFile(`${this.file}.tmp`, text)
      await rename(`${this.file}.tmp`, this.file)
    }).catch(err => { this.onError(err as Error) })
    await this.writing
  }

  /** Writes what is not written yet. */
  async close (): Promise<void> {
    if (this.timer !== undefined) await this.flush()
    await this.writing
  }
}
