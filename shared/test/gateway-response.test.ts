import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { MemoryBlockstore } from 'blockstore-core'
import { CID } from 'multiformats/cid'
import { ChunkCipher } from '../src/cipher.ts'
import { importSealedFile, unixfsChunkReader } from '../src/content.ts'
import { GatewayBlocks, fetchGatewayBlock } from '../src/gateway.ts'
import { MAX_BLOCK_BYTES } from '../src/block.ts'
import { contentHead, contentResponse } from '../src/response.ts'
import { startTestGateway } from './support/gateway.ts'
import { createManifest } from '../src/manifest.ts'
import type { Manifest } from '../src/manifest.ts'
import { randomBytes, toHex } from '../src/bytes.ts'
import { IntegrityError, NotFoundError, RangeNotSatisfiableError } from '../src/errors.ts'

const blockstore = new MemoryBlockstore()
const data = randomBytes(300_000)
const contentId = randomBytes(32)
const cipher = await ChunkCipher.create(randomBytes(32), contentId)
const { root, size } = await importSealedFile([data], blockstore, { cipher, chunkSize: 65536 })
const manifest: Manifest = { ...createManifest({ contentId: toHex(contentId), name: 'clip one.webm', mime: 'video/webm', size, chunkSize: 65536, root, publisher: '0x' + '11'.repeat(20) }), signature: '0x' }

async function gateway (tamper = false): Promise<string> {
  const server = await startTestGateway(blockstore, { tamper })
  after(server.close)
  return server.url
}

async function body (response: Response): Promise<Uint8Array> {
  return new Uint8Array(await response.arrayBuffer())
}

test('content read through a Trustless Gateway is verified block by block and opens to the original', async () => {
  let blocks = 0
  const blocksSource = new GatewayBlocks({ gateways: [await gateway()], onBlock: () => { blocks++ } })
  const response = contentResponse({ manifest, cipher, readChunk: unixfsChunkReader(blocksSource, root, size, 65536) })
  assert.equal(response.status, 200)
  assert.equal(response.headers.get('content-length'), String(size))
  assert.equal(response.headers.get('accept-ranges'), 'bytes')
  assert.deepEqual(await body(response), data)
  assert.ok(blocks >= 5)
})

test('a Range request is a 206 with Content-Range and exactly those bytes', async () => {
  const blocksSource = new GatewayBlocks({ gateways: [await gateway()] })
  const response = contentResponse({ manifest, cipher, readChunk: unixfsChunkReader(blocksSource, root, size, 65536), range: 'bytes=70000-140000' })
  assert.equal(response.status, 206)
  assert.equal(response.headers.get('content-range'), `bytes 70000-140000/${size}`)
  assert.equal(response.headers.get('content-length'), '70001')
  assert.deepEqual(await body(response), data.subarray(70000, 140001))
  assert.throws(() => contentResponse({ manifest, cipher, readChunk: async () => new Uint8Array(), range: `bytes=${size}-` }), RangeNotSatisfiableError)
})

test('a gateway that tampers with blocks is caught and skipped; its bytes are never used', async () => {
  const liar = await gateway(true)
  await assert.rejects(new GatewayBlocks({ gateways: [liar] }).fetchBlock(root), IntegrityError)
  const bytes = await new GatewayBlocks({ gateways: [liar, await gateway()] }).fetchBlock(root)
  const parts: Uint8Array[] = []
  for await (const part of blockstore.get(root)) parts.push(part)
  assert.deepEqual(bytes, new Uint8Array(Buffer.concat(parts)))
})

test('a gateway without the block falls through to the next; none having it is NotFound', async () => {
  const empty = new MemoryBlockstore()
  const missing = CID.parse('bafkreibaozmpvz7zwu4mt3e6aqpx7frpl2pwfwya2p3ocf36rhv3kvgnni')
  assert.equal(await empty.has(missing), false)
  const good = await gateway()
  const blocksSource = new GatewayBlocks({ gateways: ['http://127.0.0.1:9', good] })
  assert.ok((await blocksSource.fetchBlock(root)).length > 0)
  await assert.rejects(new GatewayBlocks({ gateways: [good] }).fetchBlock(missing), NotFoundError)
})

test('content head names the file and type', () => {
  const head = contentHead(manifest, null)
  assert.equal(head.headers['content-type'], 'video/webm')
  assert.equal(head.headers['content-disposition'], "inline; filename*=UTF-8''clip%20one.webm")
  assert.equal(contentHead(manifest, 'bytes=-10').status, 206)
})

test('fetchGatewayBlock refuses an oversized block, and an abort is the caller\'s reason, not a miss', async () => {
  const huge = async (): Promise<Response> => new Response(new Uint8Array(8), { headers: { 'content-length': String(MAX_BLOCK_BYTES + 1) } })
  await assert.rejects(fetchGatewayBlock(root, { gateways: ['http://gw.invalid'], fetch: huge }), IntegrityError)
  const controller = new AbortController()
  const hanging = async (_url: unknown, init?: RequestInit): Promise<Response> => await new Promise((_resolve, reject) => { init?.signal?.addEventListener('abort', () => { reject(init.signal?.reason) }) })
  const pending = fetchGatewayBlock(root, { gateways: ['http://gw.invalid'], fetch: hanging as typeof fetch, signal: controller.signal })
  controller.abort(new Error('reader went away'))
  await assert.rejects(pending, /reader went away/)
  await assert.rejects(fetchGatewayBlock(root, { gateways: [] }), NotFoundError)
})
