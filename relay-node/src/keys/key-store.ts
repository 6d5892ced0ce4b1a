/**
 * Content keys of gated content, kept by the origin for its key service: one file per content
 * id and key version, `<data>/keys/<contentId>/v<version>.json`, mode 0600 in a 0700
 * directory. `peerloom publish --gated` and `peerloom room create` write them; the key service
 * reads them per request, so a key published (or rotated) while the origin runs is used at once.
 * A gated room's key file says so (`room`), with the byte allowance of the grants it gives.
 */
import { mkdir, readFile, readdir, rename, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { ConfigError, fromHex, randomBytes, toHex } from '@peerloom/shared'

/** The folder under an origin's data directory that holds content keys. */
export const KEYS_DIR = 'keys'

/** One content key version. */
export interface StoredKey {
  contentId: string
  keyVersion: number
  /** The 32-byte content key. */
  key: Uint8Array
  /** The manifest CID encrypted under this key. */
  manifest: string
  /** Plaintext size, for the grant's byte allowance. */
  size: number
  /** Plaintext chunk size. */
  chunkSize: number
  /** Set for a gated room (docs/CALLS.md): its grants allow `grantBytes` of forwarded media. */
  room?: { grantBytes: bigint }
}

interface KeyFile {
  contentId: string
  keyVersion: number
  key: string
  manifest: string
  size: number
  chunkSize: number
  room?: { grantBytes: string }
}

const CONTENT_ID = /^0x[0-9a-f]{64}$/

export class KeyStore {
  private readonly dir: string

  constructor (dataDir: string) {
    this.dir = join(dataDir, KEYS_DIR)
  }

  private contentDir (contentId: string): string {
    const id = contentId.toLowerCase()
    if (!CONTENT_ID.test(id)) throw new ConfigError(`content id ${contentId} is not 32 bytes of 0x-hex`)
    return join(this.dir, id)
  }

  /** Stores a key version; refuses to overwrite a different key under the same version. */
  async save (entry: StoredKey): Promise<void> {
    const dir = this.contentDir(entry.contentId)
    await mkdir(dir, { recursive: true, mode: 0o700 })
    const existing = await this.load(entry.contentId, entry.keyVersion)
    if (existing !== undefined) {
      if (toHex(existing.key) === toHex(entry.key) && existing.manifest === entry.manifest) return
      throw new ConfigError(`${entry.contentId} already has a key version ${entry.keyVersion}; rotate to a higher version`)
    }
    const file: KeyFile = {
      contentId: entry.contentId.toLowerCase(),
      keyVersion: entry.keyVersion,
      key: toHex(entry.key),
      manifest: entry.manifest,
      size: entry.size,
      chunkSize: entry.chunkSize,
      ...(entry.room === undefined ? {} : { room: { grantBytes: entry.room.grantBytes.toString() } })
    }
    const target = join(dir, `v${entry.keyVersion}.json`)
    const temp = `${target}.${toHex(randomBytes(4)).slice(2)}.tmp`
    await writeFile(temp, JSON.stringify(file) + '\n', { mode: 0o600, flag: 'wx' })
    await rename(temp, target)
  }

  /** The key of `contentId` at `keyVersion`, or undefined when this origin does not hold it. */
  async load (contentId: string, keyVersion: number): Promise<StoredKey | undefined> {
    const file = join(this.contentDir(contentId), `v${keyVersion}.json`)
    let text: string
    try {
      text = await readFile(file, 'utf8')
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
      throw err
    }
    const parsed = JSON.parse(text) as KeyFile
    return {
      contentId: parsed.contentId,
      keyVersion: parsed.keyVersion,
      key: fromHex(parsed.key, 32, 'content key'),
      manifest: parsed.manifest,
      size: parsed.size,
      chunkSize: parsed.chunkSize,
      ...(parsed.room === undefined ? {} : { room: { grantBytes: BigInt(parsed.room.grantBytes) } })
    }
  }

  /** The folder of one content id's keys (a room's holder list lives there too). */
  dirOf (contentId: string): string {
    return this.contentDir(contentId)
  }

  /** Content ids with keys here. */
  async contentIds (): Promise<string[]> {
    let names: string[]
    try {
      names = await readdir(this.dir)
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return []
      throw err
    }
    return names.filter(name => CONTENT_ID.test(name))
  }

  /** The highest key version stored for `contentId`, or undefined. */
  async latestVersion (contentId: string): Promise<number | undefined> {
    let names: string[]
    try {
      names = await readdir(this.contentDir(contentId))
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
      throw err
    }
    const versions = names.map(name => /^v(\d+)\.json$/.exec(name)?.[1]).filter(v => v !== undefined).map(Number)
    return versions.length === 0 ? undefined : Math.max(...versions)
  }
}
