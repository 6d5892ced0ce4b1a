/**
 * Publishing (docs/DESIGN.md, Formats and "Publishing and the origin"): seal a file chunk by chunk
 * as it streams from disk, import the ciphertext as a UnixFS file, write and sign the
 * manifest, and store everything in an origin — either straight into its data directory
 * (when no origin runs on it; the origin announces it at its next start) or by uploading a
 * CAR to a running origin, which verifies every block, stores it and announces it at once.
 */
import { createReadStream } from 'node:fs'
import { readFile, stat } from 'node:fs/promises'
import { request } from 'node:http'
import { request as requestTls } from 'node:https'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { CarWriter } from '@ipld/car/writer'
import { Wallet } from 'ethers'
import type { CID } from 'multiformats/cid'
import {
  ChunkCipher, ConfigError, DisconnectedError, InvalidParamsError, NotFoundError, assertChunkSize, createManifest, encodeManifest,
  errorFromWire, formatLink, fromHex, manifestCid, randomBytes, signManifest, toHex, importSealedFile
} from '@peerloom/shared'
import type { SealProgress } from '@peerloom/shared'
import { DATA_FILES } from './constants.ts'
import { OriginStore } from './origin/store.ts'
import { readUploadToken } from './origin/token.ts'

/** Where published content goes. */
export type PublishTarget =
  | { kind: 'data', dir: string }
  | { kind: 'http', url: string, token: string }

export interface PublishOptions {
  file: string
  target: PublishTarget
  /** Signs the manifest; its address is the publisher. */
  signer: Wallet
  name: string
  mime: string
  chunkSize: number
  /** 32 bytes; random when omitted. */
  contentId?: Uint8Array
  /** Gated content: the link carries no key; viewers get it from the key service. */
  gated?: boolean
  /** The manifest's key version (a rotation publishes a higher one). @default 1 */
  keyVersion?: number
  onStart?: (totalBytes: number) => void
  onProgress?: (progress: SealProgress) => void
  signal?: AbortSignal
}

/** What `peerloom publish` prints. */
export interface PublishResult {
  link: string
  manifest: string
  root: string
  contentId: string
}

/** What publishing produced, including what stays with the publisher (the content key). */
export interface PublishedContent extends PublishResult {
  contentKey: Uint8Array
  keyVersion: number
  size: number
  chunkSize: number
}

/** Reads a publisher key: 32 bytes as hex, with or without 0x, from text (a file's contents or a variable). */
export function signerFromHex (text: string, where: string): Wallet {
  const hex = text.trim().startsWith('0x') ? text.trim() : `0x${text.trim()}`
  try {
    return new Wallet(toHex(fromHex(hex, 32, 'publisher key')))
  } catch (err) {
    throw new InvalidParamsError(`${where} does not hold a publisher key (32 bytes as hex, e.g. 0x4c0883a6…)`, { cause: err })
  }
}

/**
 * Decides where to publish when given a data directory: upload if an origin runs there, else
 * write the files. A directory that does not exist or holds no origin data is refused unless
 * `init` says to start a new one there, so a mistyped --data does not publish into nowhere.
 */
export async function targetForDataDir (dir: string, options: { init?: boolean } = {}): Promise<PublishTarget> {
  const running = await runningOrigin(dir)
  if (running !== undefined) {
    const token = await readUploadToken(dir)
    if (token === undefined) throw new ConfigError(`an origin runs on ${dir} but has no upload token there`)
    return { kind: 'http', url: running.http, token }
  }
  if (options.init !== true) await assertOriginData(dir)
  return { kind: 'data', dir }
}

/** `{ pid, http }` of the origin running on `dir`, from its origin.json, if its process lives. */
export async function runningOrigin (dir: string): Promise<{ pid: number, http: string } | undefined> {
  let running: { pid?: unknown, http?: unknown } | undefined
  try {
    running = JSON.parse(await readFile(join(dir, DATA_FILES.running), 'utf8')) as typeof running
  } catch {
    return undefined
  }
  if (running === undefined || typeof running.pid !== 'number' || typeof running.http !== 'string' || !isAlive(running.pid)) return undefined
  return { pid: running.pid, http: running.http }
}

/** Throws a ConfigError with a hint unless `dir` is an origin's data directory. */
export async function assertOriginData (dir: string): Promise<void> {
  const hint = `pass the --data directory your origin runs with (peerloom-relay --origin --data DIR), or add --init to start a new origin data directory at ${dir}`
  let info
  try {
    info = await stat(dir)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new ConfigError(`--data ${dir}: no such directory; ${hint}`, { cause: err })
    throw new ConfigError(`--data ${dir}: cannot read it: ${(err as Error).message}`, { cause: err })
  }
  if (!info.isDirectory()) throw new ConfigError(`--data ${dir} is a file, not a data directory; ${hint}`)
  const present = async (name: string): Promise<boolean> => await stat(join(dir, name)).then(() => true, () => false)
  if (await present(DATA_FILES.published) || await present(DATA_FILES.blocks)) return
  if (await present(DATA_FILES.identity)) {
    throw new ConfigError(`--data ${dir} belongs to a relay that has never run as an origin (it has no ${DATA_FILES.published}/ or ${DATA_FILES.blocks}/); start it once with --origin, or add --init to publish into it anyway`)
  }
  throw new ConfigError(`--data ${dir} holds no origin data (no ${DATA_FILES.published}/ or ${DATA_FILES.blocks}/); ${hint}`)
}

function isAlive (pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/** Seals, stores and (through the origin) announces `file`; resolves with the link and CIDs. */
export async function publishFile (options: PublishOptions): Promise<PublishedContent> {
  assertChunkSize(options.chunkSize)
  let info
  try {
    info = await stat(options.file)
  } catch (err) {
    throw new InvalidParamsError(`cannot read ${options.file}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message}`, { cause: err })
  }
  if (!info.isFile()) throw new InvalidParamsError(`${options.file} is not a regular file`)
  const contentId = options.contentId ?? randomBytes(32)
  const contentKey = randomBytes(32)
  const cipher = await ChunkCipher.create(contentKey, contentId)
  options.onStart?.(info.size)
  const source = createReadStream(options.file, { highWaterMark: Math.max(64 * 1024, options.chunkSize) })
  source.once('error', () => {}) // surfaced through the iterator below

  const keyVersion = options.keyVersion ?? 1
  let size = 0
  const seal = async (blockstore: { put: (cid: CID, bytes: Uint8Array) => Promise<CID> }): Promise<{ manifest: CID, root: CID }> => {
    let sealed
    try {
      sealed = await importSealedFile(source, blockstore, { cipher, chunkSize: options.chunkSize, onProgress: options.onProgress, ...(options.signal === undefined ? {} : { signal: options.signal }) })
    } catch (err) {
      if ((err as NodeJS.ErrnoException).syscall !== undefined) throw new InvalidParamsError(`cannot read ${options.file}: ${(err as Error).message}`, { cause: err })
      throw err
    }
    const unsigned = createManifest({
      contentId: toHex(contentId),
      name: options.name,
      mime: options.mime,
      size: sealed.size,
      chunkSize: options.chunkSize,
      root: sealed.root,
      publisher: options.signer.address,
      keyVersion
    })
    size = sealed.size
    const bytes = encodeManifest(await signManifest(unsigned, options.signer))
    const manifest = await manifestCid(bytes)
    await blockstore.put(manifest, bytes)
    return { manifest, root: sealed.root }
  }

  let cids: { manifest: CID, root: CID }
  if (options.target.kind === 'data') {
    const store = new OriginStore(options.target.dir)
    await store.open()
    try {
      cids = await seal({ put: async (cid, bytes) => { await store.blockstore.put(cid, bytes); return cid } })
      await store.commit(cids.manifest)
    } finally {
      await store.close()
    }
  } else {
    cids = await uploadTo(options.target, seal, options.signal)
  }
  return {
    link: formatLink(options.gated === true ? { manifest: cids.manifest } : { manifest: cids.manifest, key: contentKey }),
    manifest: cids.manifest.toString(),
    root: cids.root.toString(),
    contentId: toHex(contentId),
    contentKey,
    keyVersion,
    size,
    chunkSize: options.chunkSize
  }
}

type Sealer = (blockstore: { put: (cid: CID, bytes: Uint8Array) => Promise<CID> }) => Promise<{ manifest: CID, root: CID }>

/** Streams the sealed blocks as a CAR into PUT /api/v1/blocks, then commits with POST /api/v1/publish. */
async function uploadTo (target: { url: string, token: string }, seal: Sealer, signal?: AbortSignal): Promise<{ manifest: CID, root: CID }> {
  const { writer, out } = CarWriter.create([])
  const upload = send(target, 'PUT', '/api/v1/blocks', Readable.from(out), signal)
  // if the origin refuses early, stop sealing instead of waiting on a stream nobody reads
  const refused = upload.then(() => new Promise<never>(() => {}))
  const sealing = (async () => {
    try {
      return await seal({ put: async (cid, bytes) => { await writer.put({ cid, bytes }); return cid } })
    } finally {
      await writer.close()
    }
  })()
  const cids = await Promise.race([sealing, refused])
  await upload
  await send(target, 'POST', `/api/v1/publish/${cids.manifest.toString()}`, undefined, signal)
  return cids
}

/** One request to the origin; resolves with the JSON body or throws the origin's error. */
async function send (target: { url: string, token: string }, method: string, path: string, body: Readable | undefined, signal?: AbortSignal): Promise<unknown> {
  const url = new URL(path, target.url)
  const make = url.protocol === 'https:' ? requestTls : request
  return await new Promise((resolve, reject) => {
    const req = make(url, {
      method,
      headers: { authorization: `Bearer ${target.token}`, 'content-type': 'application/vnd.ipld.car', ...(body === undefined ? { 'content-length': 0 } : {}) },
      ...(signal === undefined ? {} : { signal })
    }, res => {
      const parts: Buffer[] = []
      res.on('data', (part: Buffer) => parts.push(part))
      res.once('error', reject)
      res.once('end', () => {
        const text = Buffer.concat(parts).toString('utf8')
        let json: unknown
        try {
          json = JSON.parse(text)
        } catch {
          json = undefined
        }
        if (res.statusCode === 200) {
          resolve(json)
          return
        }
        const error = (json as { error?: { code?: unknown, message?: unknown } } | undefined)?.error
        if (error !== undefined) reject(errorFromWire({ code: error.code, message: `the origin refused: ${String(error.message)}` }))
        else reject(new NotFoundError(`the origin at ${target.url} answered ${res.statusCode ?? '?'} to ${method} ${path}; is it a Peerloom origin?`))
      })
    })
    req.once('error', err => {
      reject(new DisconnectedError(`cannot reach the origin at ${target.url}: ${err.message}`, { cause: err }))
    })
    if (body === undefined) req.end()
    else body.pipe(req)
  })
}
