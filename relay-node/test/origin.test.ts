/**
 * The origin role end to end on loopback: `peerloom publish` into a data directory and into a
 * running origin, the trustless gateway, bitswap, DHT announcement through a relay, and that
 * what comes back opens with @peerloom/shared to the exact bytes published.
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { withBitswap } from '@helia/bitswap'
import { withLibp2pLight } from '@helia/libp2p'
import { CarBlockIterator } from '@ipld/car/iterator'
import { CarWriter } from '@ipld/car/writer'
import { identify } from '@libp2p/identify'
import { webSockets } from '@libp2p/websockets'
import { MemoryBlockstore } from 'blockstore-core'
import { MemoryDatastore } from 'datastore-core'
import { createHeliaLight } from 'helia'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { sha256 } from 'multiformats/hashes/sha2'
import { ChunkCipher, decodeManifest, fromHex, openRange, parseLink, randomBytes, unixfsChunkReader } from '@peerloom/shared'
import { verifyOriginBlock } from '../src/origin/blocks.ts'
import { PEERLOOM_BIN, WAIT_MS, eventually, removeDir, runCli, startRelay, tempDir } from './helpers.ts'
import type { RunningRelay } from './helpers.ts'

const PUBLISHER_KEY = '0x4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318'
const PUBLISHER = '0x2c7536E3605D9C16a7a3D7b1898e529396a65c23'

interface Published { link: string, manifest: string, root: string, contentId: string }

/** Fetches a CAR from the gateway, checks every block against its CID, returns them in a blockstore. */
async function fetchCar (http: string, cid: string): Promise<{ store: MemoryBlockstore, cids: string[] }> {
  const res = await fetch(`${http}/ipfs/${cid}?format=car`)
  assert.equal(res.status, 200)
  assert.match(res.headers.get('content-type') ?? '', /^application\/vnd\.ipld\.car/)
  const reader = await CarBlockIterator.fromBytes(new Uint8Array(await res.arrayBuffer()))
  assert.deepEqual((await reader.getRoots()).map(String), [cid])
  const store = new MemoryBlockstore()
  const cids: string[] = []
  for await (const block of reader) {
    await verifyOriginBlock(block.cid, block.bytes)
    await store.put(block.cid, block.bytes)
    cids.push(block.cid.toString())
  }
  return { store, cids }
}

/** Opens published content the way a viewer does: manifest, key from the link, chunks by CID. */
async function openPublished (http: string, published: Published): Promise<{ bytes: Uint8Array, manifest: ReturnType<typeof decodeManifest> }> {
  const link = parseLink(published.link)
  assert.equal(link.manifest.toString(), published.manifest)
  const rawRes = await fetch(`${http}/ipfs/${published.manifest}?format=raw`)
  assert.equal(rawRes.status, 200)
  assert.equal(rawRes.headers.get('content-type'), 'application/vnd.ipld.raw')
  const manifestBytes = new Uint8Array(await rawRes.arrayBuffer())
  await verifyOriginBlock(link.manifest, manifestBytes)
  const manifest = decodeManifest(manifestBytes)
  assert.equal(manifest.root.toString(), published.root)
  const { store } = await fetchCar(http, published.root)
  const cipher = await ChunkCipher.create(link.key as Uint8Array, fromHex(manifest.contentId, 32))
  const parts: Uint8Array[] = []
  for await (const part of openRange({ cipher, size: manifest.size, chunkSize: manifest.chunkSize, start: 0, end: manifest.size, readChunk: unixfsChunkReader(store, manifest.root, manifest.size, manifest.chunkSize) })) parts.push(part)
  return { bytes: Buffer.concat(parts), manifest }
}

describe('origin', () => {
  let relay: RunningRelay
  let origin: RunningRelay
  let work: string
  let file: Uint8Array
  let fromDataDir: Published

  before(async () => {
    work = await tempDir('peerloom-origin-test-')
    file = randomBytes(1_234_567) // not a multiple of the chunk size: the last chunk is short
    await writeFile(join(work, 'clip.mp4'), file)
    await writeFile(join(work, 'key'), PUBLISHER_KEY + '\n')
    // published before the origin starts: written straight into its data directory
    const dataDir = join(work, 'origin')
    const cli = await runCli(PEERLOOM_BIN, ['publish', join(work, 'clip.mp4'), '--data', dataDir, '--init', '--key-file', join(work, 'key'), '--chunk-size', '64KiB'])
    assert.equal(cli.code, 0, cli.stderr)
    assert.doesNotMatch(cli.stderr, /sealing/, 'no progress line when stderr is not a terminal')
    fromDataDir = JSON.parse(cli.stdout) as Published
    relay = await startRelay()
    origin = await startRelay(['--origin', '--bootstrap', relay.ws.toString()], { data: dataDir })
  })

  after(async () => {
    await origin?.stop()
    await relay?.stop()
    await removeDir(work)
    if (relay !== undefined) await removeDir(relay.data)
  })

  it('serves what publish wrote into its data directory, and it opens to the same bytes', async () => {
    assert.match(fromDataDir.link, /^peerloom:\/\/b[a-z2-7]+#k=[\w-]{43}$/)
    assert.match(fromDataDir.contentId, /^0x[0-9a-f]{64}$/)
    const { bytes, manifest } = await openPublished(origin.http, fromDataDir)
    assert.equal(manifest.name, 'clip.mp4')
    assert.equal(manifest.mime, 'video/mp4', 'MIME type guessed from the name')
    assert.equal(manifest.chunkSize, 64 * 1024)
    assert.equal(manifest.publisher, PUBLISHER)
    assert.equal(manifest.size, file.length)
    assert.ok(Buffer.from(bytes).equals(Buffer.from(file)), 'identical bytes')
  })

  it('announces published content in the DHT, so another relay finds the origin as provider', async () => {
    for (const cid of [fromDataDir.manifest, fromDataDir.root]) {
      const providers = await eventually(async () => {
        const json = await (await fetch(`${relay.http}/routing/v1/providers/${cid}`)).json() as { Providers: Array<{ ID: string, Addrs: string[] }> }
        return json.Providers.find(provider => provider.ID === origin.peerId)
      }, `relay finding the origin as provider of ${cid}`)
      assert.ok(providers.Addrs.some(addr => addr.includes('/ws')), 'with an address a browser can dial')
    }
  })

  it('accepts an upload into the running origin through publish --data, with name, type and content id', async () => {
    const contentId = '0x' + 'ab'.repeat(32)
    const cli = await runCli(PEERLOOM_BIN, ['publish', join(work, 'clip.mp4'), '--data', origin.data, '--name', 'Launch talk', '--mime', 'video/webm', '--content-id', contentId, '--quiet'], { PEERLOOM_PUBLISHER_KEY: PUBLISHER_KEY })
    assert.equal(cli.code, 0, cli.stderr)
    assert.match(cli.stderr, new RegExp(`to ${origin.http.replaceAll('.', '\\.')}`), 'uploaded to the running origin, not written beside it')
    const published = JSON.parse(cli.stdout) as Published
    assert.equal(published.contentId, contentId)
    const { bytes, manifest } = await openPublished(origin.http, published)
    assert.equal(manifest.name, 'Launch talk')
    assert.equal(manifest.mime, 'video/webm')
    assert.equal(manifest.chunkSize, 256 * 1024, 'the default chunk size')
    assert.ok(Buffer.from(bytes).equals(Buffer.from(file)))
    const json = await (await fetch(`${relay.http}/routing/v1/providers/${published.manifest}`)).json() as { Providers: Array<{ ID: string }> }
    assert.ok(json.Providers.some(provider => provider.ID === origin.peerId), 'announced at once')
    const health = await (await fetch(`${origin.http}/health`)).json() as { published: number }
    assert.equal(health.published, 2)
  })

  it('serves blocks over bitswap to a libp2p peer', async () => {
    const helia = withBitswap(withLibp2pLight(createHeliaLight({ blockstore: new MemoryBlockstore(), datastore: new MemoryDatastore() }), {
      transports: [webSockets()],
      connectionEncrypters: [noise()],
      streamMuxers: [yamux()],
      services: { identify: identify() }
    }))
    await helia.start()
    try {
      await helia.libp2p.dial(origin.ws)
      const cid = CID.parse(fromDataDir.root)
      const parts: Uint8Array[] = []
      for await (const part of helia.blockstore.get(cid, { signal: AbortSignal.timeout(WAIT_MS) })) parts.push(part)
      const block = Buffer.concat(parts)
      await verifyOriginBlock(cid, block)
      const direct = Buffer.from(await (await fetch(`${origin.http}/ipfs/${fromDataDir.root}?format=raw`)).arrayBuffer())
      assert.ok(block.equals(direct))
    } finally {
      await helia.stop()
    }
  })

  it('answers the gateway\'s error cases: 404 unknown, 400 malformed, 400 without a format', async () => {
    const unknown = CID.createV1(raw.code, await sha256.digest(new Uint8Array([1, 2, 3])))
    const notFound = await fetch(`${origin.http}/ipfs/${unknown.toString()}?format=raw`)
    assert.equal(notFound.status, 404)
    assert.equal((await notFound.json() as { error: { code: number } }).error.code, 5001)
    const malformed = await fetch(`${origin.http}/ipfs/bafyNOTACID?format=raw`)
    assert.equal(malformed.status, 400)
    assert.match((await malformed.json() as { error: { message: string } }).error.message, /is not a CID/)
    const noFormat = await fetch(`${origin.http}/ipfs/${fromDataDir.manifest}`)
    assert.equal(noFormat.status, 400)
    const byAccept = await fetch(`${origin.http}/ipfs/${fromDataDir.manifest}`, { headers: { accept: 'application/vnd.ipld.raw' } })
    assert.equal(byAccept.status, 200)
    assert.equal(byAccept.headers.get('access-control-allow-origin'), '*')
    const head = await fetch(`${origin.http}/ipfs/${fromDataDir.root}?format=raw`, { method: 'HEAD' })
    assert.equal(head.status, 200)
    assert.ok(Number(head.headers.get('content-length')) > 0)
    const blockScope = await fetchCar(origin.http, fromDataDir.manifest)
    assert.ok(blockScope.cids.length > 2, 'a manifest CAR carries the whole ciphertext DAG')
    const metrics = await (await fetch(`${origin.http}/metrics`)).text()
    assert.match(metrics, /peerloom_gateway_blocks_served_total [1-9]/)
  })

  it('refuses uploads without the token and blocks that do not match their CID', async () => {
    const bytes = new TextEncoder().encode('honest bytes')
    const cid = CID.createV1(raw.code, await sha256.digest(bytes))
    const car = async (block: { cid: CID, bytes: Uint8Array }): Promise<Uint8Array<ArrayBuffer>> => {
      const { writer, out } = CarWriter.create([])
      const parts: Uint8Array[] = []
      const done = (async () => { for await (const part of out) parts.push(part) })()
      await writer.put(block)
      await writer.close()
      await done
      return new Uint8Array(Buffer.concat(parts))
    }
    const token = (await readFile(join(origin.data, 'upload-token'), 'utf8')).trim()
    const noToken = await fetch(`${origin.http}/api/v1/blocks`, { method: 'PUT', body: await car({ cid, bytes }) })
    assert.equal(noToken.status, 401)
    const tampered = await fetch(`${origin.http}/api/v1/blocks`, { method: 'PUT', headers: { authorization: `Bearer ${token}` }, body: await car({ cid, bytes: new TextEncoder().encode('forged bytes') }) })
    assert.equal(tampered.status, 422)
    assert.match((await tampered.json() as { error: { message: string } }).error.message, /does not match its CID/)
    assert.equal((await fetch(`${origin.http}/ipfs/${cid.toString()}?format=raw`)).status, 404, 'the forged block was not stored')
    const notCar = await fetch(`${origin.http}/api/v1/blocks`, { method: 'PUT', headers: { authorization: `Bearer ${token}` }, body: 'not a car' })
    assert.equal(notCar.status, 400)
    const honest = await fetch(`${origin.http}/api/v1/blocks`, { method: 'PUT', headers: { authorization: `Bearer ${token}` }, body: await car({ cid, bytes }) })
    assert.deepEqual(await honest.json(), { blocks: 1, bytes: (await car({ cid, bytes })).length })
    const notManifest = await fetch(`${origin.http}/api/v1/publish/${cid.toString()}`, { method: 'POST', headers: { authorization: `Bearer ${token}` } })
    assert.equal(notManifest.status, 422, 'a block that is not a manifest cannot be published')
  })
})

describe('peerloom publish errors', () => {
  it('exits 2 with a message a person can act on', async () => {
    const work = await tempDir()
    try {
      const file = join(work, 'a.txt')
      await writeFile(file, 'hello')
      const key = { PEERLOOM_PUBLISHER_KEY: PUBLISHER_KEY }
      const cases: Array<[string[], NodeJS.ProcessEnv, RegExp]> = [
        [['publish', file, '--data', work, '--init'], { PEERLOOM_PUBLISHER_KEY: undefined, PEERLOOM_PUBLISHER_KEY_FILE: undefined }, /a publisher key is needed.*--key-file FILE or set PEERLOOM_PUBLISHER_KEY/],
        [['publish', join(work, 'missing.mp4'), '--data', work, '--init'], key, /cannot read .*missing\.mp4: no such file/],
        [['publish', work, '--data', work, '--init'], key, /is not a regular file/],
        [['publish', file, '--data', work, '--content-id', '0x1234'], key, /--content-id: content id must be 32 bytes/],
        [['publish', file, '--data', work, '--chunk-size', '10'], key, /--chunk-size: chunk size must be an integer from 1024/],
        [['publish', file, '--data', work, '--mime', 'video'], key, /--mime: "video" is not a MIME type/],
        [['publish', file, '--data', work, '--init', '--key-file', join(work, 'nokey')], {}, /--key-file: cannot read/],
        [['publish', file, '--data', work, '--init'], { PEERLOOM_PUBLISHER_KEY: 'xyz' }, /PEERLOOM_PUBLISHER_KEY does not hold a publisher key/],
        [['publish', file, '--data', join(work, 'wrong', 'dir')], key, /--data .*wrong\/dir: no such directory; pass the --data directory your origin runs with .*or add --init .*\[ConfigError 5009\]/],
        [['publish', file, '--data', work], key, /--data .* holds no origin data \(no published\/ or blocks\/\); .*--init/],
        [['publish', file, '--data', file], key, /--data .*a\.txt is a file, not a data directory/],
        [['publish', file, '--dtaa', work], key, /unknown option --dtaa \(did you mean --data\?\); see peerloom publish --help/],
        [['publish', file, '--quite'], key, /unknown option --quite \(did you mean --quiet\?\)/],
        [['publish', file, '--data'], key, /--data needs a value/],
        [['publish', file], { ...key, PEERLOOM_DATA: undefined }, /say where to publish/],
        [['publish', file, '--origin', 'http://127.0.0.1:9'], { ...key, PEERLOOM_UPLOAD_TOKEN: undefined }, /--origin needs the upload token/]
      ]
      const results = await Promise.all(cases.map(async ([args, env]) => await runCli(PEERLOOM_BIN, args, env)))
      cases.forEach(([args, , message], i) => {
        const result = results[i] as Awaited<ReturnType<typeof runCli>>
        assert.equal(result.code, 2, `${args.join(' ')}: ${result.stderr}`)
        assert.match(result.stderr, message)
        assert.equal(result.stdout, '')
      })
      const unreachable = await runCli(PEERLOOM_BIN, ['publish', file, '--origin', 'http://127.0.0.1:9', '--quiet'], { ...key, PEERLOOM_UPLOAD_TOKEN: 'ab'.repeat(32) })
      assert.equal(unreachable.code, 1)
      assert.match(unreachable.stderr, /cannot reach the origin at http:\/\/127\.0\.0\.1:9/)
    } finally {
      await removeDir(work)
    }
  })
})
