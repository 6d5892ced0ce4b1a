/**
 * The origin's content on disk: verified blocks in a blockstore-fs directory, and one JSON
 * record per published manifest, which the origin announces in the DHT at every start.
 * The CLI writes the same layout directly when no origin runs on the data directory.
 */
import { mkdir, readdir, readFile, rename, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { FsBlockstore } from 'blockstore-fs'
import type { CID } from 'multiformats/cid'
import { BadManifestError, NotFoundError, collectBytes, decodeManifest } from '@peerloom/shared'
import type { Manifest } from '@peerloom/shared'
import { DATA_FILES } from '../constants.ts'
import { linksOf, parseCid, verifyOriginBlock } from './blocks.ts'

/** Next to `<manifest>.json`: the content's block CIDs, one a line, so served blocks map to their content. */
const BLOCK_LIST_SUFFIX = '.blocks'

/** What the origin remembers about one published piece of content. */
export interface PublishedRecord {
  manifest: string
  root: string
  contentId: string
  name: string
  mime: string
  size: number
  blocks: number
  publishedAt: string
}

export class OriginStore {
  readonly blockstore: FsBlockstore
  private readonly publishedDir: string

  constructor (dataDir: string) {
    this.blockstore = new FsBlockstore(join(dataDir, DATA_FILES.blocks))
    this.publishedDir = join(dataDir, DATA_FILES.published)
  }

  async open (): Promise<void> {
    await this.blockstore.open()
    await mkdir(this.publishedDir, { recursive: true })
  }

  async close (): Promise<void> {
    await this.blockstore.close()
  }

  async has (cid: CID): Promise<boolean> {
    return await this.blockstore.has(cid)
  }

  /** The block's bytes; NotFoundError when the origin does not hold it. */
  async get (cid: CID, options?: { signal?: AbortSignal }): Promise<Uint8Array> {
    if (!await this.blockstore.has(cid, options)) throw new NotFoundError(`the origin does not hold block ${cid.toString()}`)
    return await collectBytes(this.blockstore.get(cid, options))
  }

  /** Verifies `bytes` against `cid`, then stores them. */
  async putVerified (cid: CID, bytes: Uint8Array, options?: { signal?: AbortSignal }): Promise<void> {
    await verifyOriginBlock(cid, bytes)
    await this.blockstore.put(cid, bytes, options)
  }

  /** Walks the DAG under `root` depth-first; yields each block, or throws NotFoundError at the first missing one. */
  async * walk (root: CID, options?: { signal?: AbortSignal }): AsyncGenerator<{ cid: CID, bytes: Uint8Array }> {
    const stack: CID[] = [root]
    while (stack.length > 0) {
      options?.signal?.throwIfAborted()
      const cid = stack.pop() as CID
      const bytes = await this.get(cid, options)
      yield { cid, bytes }
      const links = linksOf(cid, bytes)
      for (let i = links.length - 1; i >= 0; i--) stack.push(links[i] as CID)
    }
  }

  /**
   * Checks that the manifest and its whole ciphertext DAG are stored, then records the
   * content as published. Returns the record; throws BadManifestError or NotFoundError.
   */
  async commit (manifestCid: CID, options?: { signal?: AbortSignal }): Promise<PublishedRecord> {
    let manifest: Manifest
    try {
      manifest = decodeManifest(await this.get(manifestCid, options))
    } catch (err) {
      if (err instanceof NotFoundError) throw new NotFoundError(`manifest ${manifestCid.toString()} was not uploaded`, { cause: err })
      throw err
    }
    const cids = [manifestCid.toString()]
    for await (const block of this.walk(manifest.root, options)) cids.push(block.cid.toString())
    const blocks = cids.length
    const record: PublishedRecord = {
      manifest: manifestCid.toString(),
      root: manifest.root.toString(),
      contentId: manifest.contentId,
      name: manifest.name,
      mime: manifest.mime,
      size: manifest.size,
      blocks,
      publishedAt: new Date().toISOString()
    }
    await this.writeBlockList(record.manifest, cids)
    const file = join(this.publishedDir, `${record.manifest}.json`)
    await writeFile(`${file}.tmp`, JSON.stringify(record, null, 2) + '\n')
    await rename(`${file}.tmp`, file)
    return record
  }

  /**
   * The CIDs of a published content's blocks (manifest first), from the list commit wrote next
   * to the record; for records from before that list existed, walked once and written.
   */
  async blocksOf (record: PublishedRecord): Promise<string[]> {
    const file = join(this.publishedDir, `${record.manifest}${BLOCK_LIST_SUFFIX}`)
    try {
      return (await readFile(file, 'utf8')).split('\n').filter(line => line !== '')
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
    }
    const cids = [record.manifest]
    for await (const block of this.walk(parseCid(record.root))) cids.push(block.cid.toString())
    await this.writeBlockList(record.manifest, cids)
    return cids
  }

  private async writeBlockList (manifest: string, cids: string[]): Promise<void> {
    const file = join(this.publishedDir, `${manifest}${BLOCK_LIST_SUFFIX}`)
    await writeFile(`${file}.tmp`, cids.join('\n') + '\n')
    await rename(`${file}.tmp`, file)
  }

  /** Every published record, oldest first; unreadable files are reported and skipped. */
  async list (onBadRecord?: (file: string, err: Error) => void): Promise<PublishedRecord[]> {
    const records: PublishedRecord[] = []
    for (const file of (await readdir(this.publishedDir)).filter(name => name.endsWith('.json')).sort()) {
      try {
        const record = JSON.parse(await readFile(join(this.publishedDir, file), 'utf8')) as PublishedRecord
        parseCid(record.manifest)
        parseCid(record.root)
        records.push(record)
      } catch (err) {
        onBadRecord?.(file, err instanceof Error ? err : new BadManifestError(String(err)))
      }
    }
    return records.sort((a, b) => a.publishedAt.localeCompare(b.publishedAt))
  }
}
