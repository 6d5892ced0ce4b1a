/**
 * ContentReader: a range read goes manifest → chunks → plaintext through one fetch session,
 * verified blocks from the origin on the first read and from the cache on the next.
 */
import './polyfills.ts'
import 'fake-indexeddb/auto'
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { Wallet } from 'ethers'
import type { CID } from 'multiformats/cid'
import { ChunkCipher, createManifest, encodeManifest, formatLink, importSealedFile, manifestCid, randomBytes, signManifest, toHex } from '@peerloom/shared'
import { BlockCache } from '../src/cache/block-cache.ts'
import { ContentSession } from '../src/blocks/block-fetcher.ts'
import { ContentReader } from '../src/content/content-reader.ts'
import type { ContentReaderComponents } from '../src/content/content-reader.ts'
import { openStateDb } from '../src/storage/state-db.ts'

const CHUNK = 16 * 1024
const data = randomBytes(5 * CHUNK + 123)
const key = randomBytes(32)
const contentId = randomBytes(32)
// the origin's blocks by CID; importSealedFile only puts
const blocks = new Map<string, Uint8Array>()
const store = { put: async (cid: CID, bytes: Uint8Array) => { blocks.set(cid.toString(), bytes); return cid } }
const sealed = await importSealedFile([data], store as never, { cipher: await ChunkCipher.create(key, contentId), chunkSize: CHUNK })
const publisher = Wallet.createRandom()
const manifest = await signManifest(createManifest({ contentId: toHex(contentId), name: 'clip.bin', mime: 'application/octet-stream', size: sealed.size, chunkSize: CHUNK, root: sealed.root, publisher: publisher.address }), publisher)
const manifestBytes = encodeManifest(manifest)
const manifestId = await manifestCid(manifestBytes)
blocks.set(manifestId.toString(), manifestBytes)

async function originGateway (): Promise<{ url: string, asked: string[], close: () => void }> {
  const asked: string[] = []
  const server = createServer((req, res) => {
    const cid = /\/ipfs\/([^?]+)/.exec(req.url ?? '')?.[1] ?? ''
    asked.push(cid)
    const bytes = blocks.get(cid)
    if (bytes === undefined) res.writeHead(404).end()
    else res.writeHead(200, { 'content-type': 'application/vnd.ipld.raw', 'content-length': bytes.length }).end(bytes)
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, asked, close: () => { server.close() } }
}

async function read (body: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  return new Uint8Array(await new Response(body).arrayBuffer())
}

test('a range read fetches only the chunks it touches, and a second read comes from the cache', async () => {
  const gateway = await originGateway()
  const cache = new BlockCache({ db: await openStateDb(`reader-${process.pid}`), capBytes: 64 * 1024 * 1024, persistIntervalMs: 60_000 })
  await cache.start()
  const open = new Set<ContentSession>()
  const reads: Array<{ complete: boolean }> = []
  const components: ContentReaderComponents = {
    openSession: () => {
      const session = new ContentSession({
        cache,
        selfId: 'self',
        findProviders: async function * () {},
        dialProvider: async () => { throw new Error('no peers in this test') },
        gateways: () => [gateway.url],
        onReceived: () => {},
        onCacheError: err => { throw err }
      })
      open.add(session)
      return session
    },
    closeSession: session => { session.close(); open.delete(session) },
    isCached: cid => cache.has(cid),
    keyFor: async () => { throw new Error('the link carries its key') },
    trackReceipts: () => ({ stop: () => {} }),
    remember: async () => {},
    flushReceived: async () => {},
    onRead: (_manifest, _root, complete) => { reads.push({ complete }) },
    report: err => { throw err }
  }
  const reader = new ContentReader(components)
  const link = formatLink({ manifest: manifestId, key })
  try {
    const start = 2 * CHUNK + 5
    const end = 3 * CHUNK + 10
    const first = await reader.open(link, { start, end })
    assert.equal(first.manifest.name, 'clip.bin')
    assert.deepEqual(await read(first.body), data.subarray(start, end))
    // the manifest, the root and chunks 2 and 3: nothing else of the file
    assert.equal(gateway.asked.length, 4, `asked for ${gateway.asked.join(', ')}`)
    assert.equal(first.stats.fromPeers, 0)
    assert.deepEqual(reads, [{ complete: false }])

    const whole = await reader.open(link)
    assert.deepEqual(await read(whole.body), data)
    assert.equal(whole.stats.fromCache > 0, true)
    assert.equal(gateway.asked.length, 4 + 4, 'the second read fetches only the four chunks not yet cached')
    assert.deepEqual(reads, [{ complete: false }, { complete: true }])
    assert.equal(open.size, 0, 'every session is closed once its read ends')
  } finally {
    gateway.close()
    await cache.stop()
  }
})
