/**
 * The block protocol end to end without a browser: a ContentSession asks BlockServers (and
 * peers that lie, truncate or stall) over in-memory libp2p streams, with caches in (fake)
 * IndexedDB and an origin over real HTTP.
 */
import './polyfills.ts'
import 'fake-indexeddb/auto'
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import type { Connection, PeerId, StreamHandler } from '@libp2p/interface'
import { streamPair } from '@libp2p/utils'
import { multiaddr } from '@multiformats/multiaddr'
import { ErrorCode } from '@peerloom/shared'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { sha256 } from 'multiformats/hashes/sha2'
import { BlockCache } from '../src/cache/block-cache.ts'
import { verifyBlock } from '@peerloom/shared'
import { ContentSession } from '../src/blocks/block-fetcher.ts'
import type { ProviderInfo } from '../src/blocks/block-fetcher.ts'
import { BlockServer } from '../src/blocks/block-server.ts'
import { BlockStreamPool } from '../src/blocks/block-protocol.ts'
import { PeerReputation } from '../src/net/peer-reputation.ts'
import type { ReputationRecord } from '../src/net/peer-reputation.ts'
import { openStateDb } from '../src/storage/state-db.ts'
import { UploadBudget } from '../src/blocks/upload-budget.ts'
import { BLOCK_REQUEST_TIMEOUT_MS } from '../src/constants.ts'
import { serveBadly } from './bad-block-handler.ts'
import type { BadMode } from './bad-block-handler.ts'

let dbCount = 0
async function newCache (capBytes = 64 * 1024 * 1024): Promise<BlockCache> {
  const cache = new BlockCache({ db: await openStateDb(`test-${process.pid}-${dbCount++}`), capBytes, persistIntervalMs: 60_000 })
  await cache.start()
  return cache
}

async function block (size: number, seed: number): Promise<{ cid: CID, bytes: Uint8Array }> {
  const bytes = new Uint8Array(size).map((_, i) => (i * 31 + seed * 7) & 0xff)
  return { cid: CID.createV1(raw.code, await sha256.digest(bytes)), bytes }
}

async function newPeerId (): Promise<PeerId> {
  return peerIdFromPrivateKey(await generateKeyPair('Ed25519'))
}

interface FakePeer {
  id: PeerId
  cache: BlockCache
  donate: boolean
  served: number
  /** Block streams opened to this peer. */
  streams: number
  connect: (client: PeerId) => Connection
  stop: () => Promise<void>
}

async function fakePeer (options: { donate?: boolean, rate?: number } = {}): Promise<FakePeer> {
  const id = await newPeerId()
  const cache = await newCache()
  let handler: StreamHandler | undefined
  const peer: FakePeer = {
    id,
    cache,
    donate: options.donate ?? true,
    served: 0,
    streams: 0,
    connect: client => ({
      remotePeer: id,
      limits: undefined,
      status: 'open',
      newStream: async () => {
        const [outbound, inbound] = await streamPair()
        peer.streams++
        void handler?.(inbound, { remotePeer: client } as unknown as Connection)
        return outbound
      }
    }) as unknown as Connection,
    stop: async () => { await server.stop(); await cache.stop() }
  }
  const server = new BlockServer({
    libp2p: { handle: async (_protocol: string | string[], h: StreamHandler) => { handler = h }, unhandle: async () => { handler = undefined } } as never,
    cache,
    budget: new UploadBudget({ rateBytesPerSec: options.rate ?? 1024 * 1024 * 1024, maxConnections: 4 }),
    isDonating: () => peer.donate,
    onServed: (_client, bytes) => { peer.served += bytes }
  })
  await server.start()
  return peer
}

/** A peer that answers every block request in a bad mode, counting requests and dials. */
interface BadPeer extends Pick<FakePeer, 'id' | 'connect'> {
  requests: number
  dials: number
}

async function badPeer (mode: BadMode): Promise<BadPeer> {
  const id = await newPeerId()
  const peer: BadPeer = {
    id,
    requests: 0,
    dials: 0,
    connect: () => {
      peer.dials++
      return {
        remotePeer: id,
        limits: undefined,
        status: 'open',
        newStream: async () => {
          const [outbound, inbound] = await streamPair()
          void serveBadly(inbound, mode, () => { peer.requests++ })
          return outbound
        }
      } as unknown as Connection
    }
  }
  return peer
}

/** An origin gateway over HTTP holding `blocks`. */
async function originServer (blocks: Array<{ cid: CID, bytes: Uint8Array }>): Promise<{ url: string, close: () => void }> {
  const http = createServer((req, res) => {
    const found = blocks.find(b => req.url === `/ipfs/${b.cid.toString()}?format=raw`)
    if (found === undefined) {
      res.writeHead(404).end()
      return
    }
    res.writeHead(200, { 'content-type': 'application/vnd.ipld.raw', 'content-length': found.bytes.length })
    res.end(found.bytes)
  })
  await new Promise<void>(resolve => http.listen(0, '127.0.0.1', resolve))
  return { url: `http://127.0.0.1:${(http.address() as AddressInfo).port}`, close: () => { http.close() } }
}

/** A reputation kept in memory (its store is what a restart would read back). */
function memoryReputation (): { reputation: PeerReputation, saved: () => ReputationRecord[] } {
  let saved: ReputationRecord[] = []
  const reputation = new PeerReputation({ store: { load: async () => saved, save: async records => { saved = records } } })
  return { reputation, saved: () => saved }
}

async function session (peers: Array<Pick<FakePeer, 'id' | 'connect'>>, gateways: string[] = [], options: { reputation?: PeerReputation, hedgeDelayMs?: number } = {}) {
  const self = await newPeerId()
  const cache = await newCache()
  const received = { peer: 0, origin: 0 }
  const s = new ContentSession({
    cache,
    selfId: self.toString(),
    findProviders: async function * (): AsyncGenerator<ProviderInfo> {
      for (const peer of peers) yield { id: peer.id, multiaddrs: [multiaddr(`/ip4/127.0.0.1/tcp/1/ws/p2p-circuit/webrtc/p2p/${peer.id.toString()}`)] }
    },
    dialProvider: async provider => (peers.find(p => p.id.equals(provider.id)) as FakePeer).connect(self),
    gateways: () => gateways,
    streams: new BlockStreamPool(8),
    ...(options.reputation === undefined ? {} : { reputation: options.reputation }),
    ...(options.hedgeDelayMs === undefined ? {} : { hedgeDelayMs: () => options.hedgeDelayMs as number }),
    onReceived: (source, bytes) => { received[source] += bytes },
    onCacheError: err => { throw err }
  })
  const close = async (): Promise<void> => {
    s.close()
    await cache.stop()
  }
  return { session: s, cache, received, close }
}

test('verifyBlock accepts matching bytes and rejects anything else', async () => {
  const { cid, bytes } = await block(1000, 1)
  await verifyBlock(cid, bytes)
  const tampered = bytes.slice()
  tampered[10] = (tampered[10] ?? 0) ^ 1
  await assert.rejects(verifyBlock(cid, tampered), (err: { code: number }) => err.code === ErrorCode.INTEGRITY)
})

test('blocks come from a donating peer, verified, cached, and metered on the server', async () => {
  const peer = await fakePeer()
  const blocks = await Promise.all([1, 2, 3, 4, 5].map(async i => await block(64 * 1024, i)))
  for (const b of blocks) await peer.cache.put(b.cid, b.bytes)
  const { session: s, cache, received, close } = await session([peer])
  s.discover(blocks[0]!.cid)
  const got = await Promise.all(blocks.map(async b => await s.get(b.cid)))
  got.forEach((bytes, i) => { assert.deepEqual(bytes, blocks[i]!.bytes) })
  assert.equal(received.peer, 5 * 64 * 1024)
  assert.equal(s.stats.perPeer[peer.id.toString()], 5 * 64 * 1024)
  assert.equal(peer.served, 5 * 64 * 1024)
  assert.ok(cache.has(blocks[2]!.cid))
  // a second read is served from the local cache, not the peer
  await s.get(blocks[0]!.cid)
  assert.equal(peer.served, 5 * 64 * 1024)
  await close()
  await peer.stop()
})

test('more blocks than the per-peer request limit at once: the ones waiting go out as slots free', async () => {
  const peer = await fakePeer()
  const blocks = await Promise.all(Array.from({ length: 40 }, async (_, i) => await block(16 * 1024, 100 + i)))
  for (const b of blocks) await peer.cache.put(b.cid, b.bytes)
  const { session: s, close } = await session([peer])
  s.discover(blocks[0]!.cid)
  const got = await Promise.all(blocks.map(async b => await s.get(b.cid)))
  got.forEach((bytes, i) => { assert.deepEqual(bytes, blocks[i]!.bytes) })
  assert.equal(peer.served, 40 * 16 * 1024)
  await close()
  await peer.stop()
})

test('closing a session ends its requests to a peer that does not answer, without waiting for their timeout', async () => {
  const peer = await fakePeer({ rate: 1 }) // one byte per second: the answer never comes in time
  const b = await block(64 * 1024, 7)
  await peer.cache.put(b.cid, b.bytes)
  const { session: s, close } = await session([peer])
  s.discover(b.cid)
  const pending = s.get(b.cid)
  // the request is out once its stream is open; the server then waits on its budget
  for (const deadline = Date.now() + 10_000; peer.streams === 0;) {
    assert.ok(Date.now() < deadline, 'no block stream was opened to the peer')
    await new Promise(resolve => setTimeout(resolve, 10))
  }
  const started = Date.now()
  await close()
  await assert.rejects(pending, (err: { code: number }) => err.code === ErrorCode.NOT_FOUND)
  // ended by the close, not by the request timeout it would otherwise have waited out
  assert.ok(Date.now() - started < BLOCK_REQUEST_TIMEOUT_MS, `the get ended ${Date.now() - started} ms after close`)
  await peer.stop()
})

test('a peer that sends bytes not matching the CID is dropped; another peer delivers', async () => {
  const liar = await fakePeer()
  const honest = await fakePeer()
  const b = await block(32 * 1024, 9)
  await liar.cache.put(b.cid, new Uint8Array(32 * 1024)) // wrong bytes under the right CID
  await honest.cache.put(b.cid, b.bytes)
  const { session: s, close } = await session([liar, honest])
  s.discover(b.cid)
  const others = await Promise.all([10, 11, 12].map(async i => await block(1024, i)))
  for (const o of others) await honest.cache.put(o.cid, o.bytes)
  const got = await Promise.all([b, ...others].map(async x => await s.get(x.cid)))
  assert.deepEqual(got[0], b.bytes)
  if (s.stats.droppedPeers[liar.id.toString()] !== undefined) assert.match(s.stats.droppedPeers[liar.id.toString()]!, /does not match its CID/)
  assert.equal(s.stats.perPeer[liar.id.toString()] ?? 0, 0)
  await close()
  await liar.stop()
  await honest.stop()
})

test('a peer whose owner has not opted in serves nothing; the origin is used instead', async () => {
  const peer = await fakePeer({ donate: false })
  const b = await block(16 * 1024, 20)
  await peer.cache.put(b.cid, b.bytes)
  const http = createServer((req, res) => {
    if (req.url === `/ipfs/${b.cid.toString()}?format=raw`) {
      res.writeHead(200, { 'content-type': 'application/vnd.ipld.raw', 'content-length': b.bytes.length })
      res.end(b.bytes)
    } else {
      res.writeHead(404).end()
    }
  })
  await new Promise<void>(resolve => http.listen(0, '127.0.0.1', resolve))
  const gateway = `http://127.0.0.1:${(http.address() as AddressInfo).port}`
  try {
    const { session: s, received, close } = await session([peer], [gateway])
    s.discover(b.cid)
    await new Promise(resolve => setTimeout(resolve, 50)) // let the peer connect first
    assert.deepEqual(await s.get(b.cid), b.bytes)
    assert.equal(peer.served, 0)
    assert.equal(received.origin, b.bytes.length)
    await close()
  } finally {
    http.close()
    await peer.stop()
  }
})

test('with no peer and no origin, a block is not found (code 5001) and the reason says who was asked', async () => {
  const peer = await fakePeer({ donate: false })
  const b = await block(1024, 30)
  await peer.cache.put(b.cid, b.bytes)
  const { session: s, close } = await session([peer])
  s.discover(b.cid)
  await assert.rejects(s.get(b.cid), (err: { code: number, message: string }) => {
    assert.equal(err.code, ErrorCode.NOT_FOUND)
    assert.match(err.message, /no origin gateway is configured/)
    return true
  })
  assert.match(s.stats.droppedPeers[peer.id.toString()] ?? '', /not serving/)
  await close()
  await peer.stop()
})

test('the cache keeps blocks across a restart and stays under its cap', async () => {
  const db = await openStateDb(`test-${process.pid}-restart`)
  const cap = 100 * 1024
  const first = new BlockCache({ db, capBytes: cap, persistIntervalMs: 60_000 })
  await first.start()
  const blocks = await Promise.all(Array.from({ length: 8 }, async (_, i) => await block(30 * 1024, 40 + i)))
  for (const b of blocks) {
    await first.put(b.cid, b.bytes)
    assert.ok(first.stats().usedBytes <= cap)
  }
  await first.stop()
  const second = new BlockCache({ db, capBytes: cap, persistIntervalMs: 60_000 })
  await second.start()
  assert.equal(second.stats().usedBytes, 3 * 30 * 1024)
  assert.deepEqual(await second.get(blocks[7]!.cid), blocks[7]!.bytes)
  assert.equal(await second.get(blocks[0]!.cid), undefined) // evicted long ago
  await second.setCap(40 * 1024)
  assert.equal(second.stats().blocks, 1)
  assert.ok(second.has(blocks[7]!.cid)) // the most recently used stays
  await second.stop()
})

test('small blocks are read from memory after their first write or read, up to 4 MiB; large, evicted and cleared ones are not', async () => {
  const db = await openStateDb(`test-${process.pid}-hot`)
  const reads: string[] = []
  const get = db.get.bind(db)
  ;(db as { get: unknown }).get = async (...args: Parameters<typeof get>) => {
    reads.push(String(args[1]))
    return await get(...args)
  }
  // stopped even when an assertion fails, or its timer keeps the test process alive
  const withCache = async (check: (cache: BlockCache) => Promise<void>): Promise<void> => {
    const cache = new BlockCache({ db, capBytes: 64 * 1024 * 1024, persistIntervalMs: 60_000 })
    await cache.start()
    try {
      await check(cache)
    } finally {
      await cache.stop()
    }
  }
  const small = await block(4 * 1024, 1)
  const large = await block(256 * 1024, 2)
  const many = await Promise.all(Array.from({ length: 64 }, async (_, i) => await block(64 * 1024, 100 + i)))

  await withCache(async cache => {
    await cache.put(small.cid, small.bytes)
    await cache.put(large.cid, large.bytes)
    assert.deepEqual(await cache.get(small.cid), small.bytes)
    assert.deepEqual(await cache.get(large.cid), large.bytes)
    assert.deepEqual(reads, [large.cid.toString()])
  })

  await withCache(async cache => {
    // a new cache reads a small block from IndexedDB once
    reads.length = 0
    assert.deepEqual(await cache.get(small.cid), small.bytes)
    assert.deepEqual(await cache.get(small.cid), small.bytes)
    assert.deepEqual(reads, [small.cid.toString()])

    // 4 MiB of them at most, the least recently used dropped first
    for (const b of many) await cache.put(b.cid, b.bytes)
    reads.length = 0
    assert.deepEqual(await cache.get(many[63]!.cid), many[63]!.bytes)
    assert.deepEqual(await cache.get(small.cid), small.bytes) // 4 KiB + 64 × 64 KiB is over 4 MiB
    assert.deepEqual(reads, [small.cid.toString()])

    // an evicted block is not served from memory, nor is anything after a clear
    await cache.blockstore().delete(many[63]!.cid)
    assert.equal(await cache.get(many[63]!.cid), undefined)
    await cache.clear()
    assert.equal(await cache.get(many[62]!.cid), undefined)
    await cache.put(many[62]!.cid, many[62]!.bytes)
    assert.equal(cache.stats().blocks, 1)
  })
})

test('a full disk is handled: the cache evicts, retries, and otherwise reports a quota error', async () => {
  const db = await openStateDb(`test-${process.pid}-quota`)
  const cache = new BlockCache({ db, capBytes: 10 * 1024 * 1024, persistIntervalMs: 60_000 })
  await cache.start()
  const blocks = await Promise.all(Array.from({ length: 6 }, async (_, i) => await block(10 * 1024, 60 + i)))
  for (const b of blocks.slice(0, 4)) await cache.put(b.cid, b.bytes)
  // the browser refuses the next write once, as it does when the disk is full
  const transaction = db.transaction.bind(db)
  let refusals = 1
  ;(db as { transaction: unknown }).transaction = ((...args: Parameters<typeof transaction>) => {
    const tx = transaction(...args)
    if (args[1] !== 'readwrite' || refusals-- <= 0) return tx
    return new Proxy({}, {
      get: (_target, prop) => {
        if (prop === 'done') {
          tx.abort() // nothing is written, as when the browser refuses
          tx.done.catch(() => {})
          return Promise.reject(new DOMException('disk full', 'QuotaExceededError'))
        }
        const value = Reflect.get(tx, prop) as unknown
        return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(tx) : value
      }
    })
  }) as typeof transaction
  await cache.put(blocks[4]!.cid, blocks[4]!.bytes)
  assert.ok(cache.has(blocks[4]!.cid))
  assert.ok(cache.stats().diskFullAt !== undefined)
  assert.ok(!cache.has(blocks[0]!.cid)) // the oldest made room
  refusals = 3 // the write, the eviction and the retry
  await assert.rejects(cache.put(blocks[5]!.cid, blocks[5]!.bytes), (err: { code: number, message: string }) => {
    assert.equal(err.code, ErrorCode.QUOTA_EXCEEDED)
    assert.match(err.message, /disk is full/)
    return true
  })
  assert.ok(!cache.has(blocks[5]!.cid))
  await cache.stop()
})

test('concurrent writes share transactions; a refused transaction books none of its writes', async () => {
  const db = await openStateDb(`test-${process.pid}-group`)
  const cap = 200 * 1024
  const cache = new BlockCache({ db, capBytes: cap, persistIntervalMs: 60_000 })
  await cache.start()
  const reopened = new BlockCache({ db, capBytes: cap, persistIntervalMs: 60_000 })
  try {
    const blocks = await Promise.all(Array.from({ length: 10 }, async (_, i) => await block(40 * 1024, 80 + i)))
    const transaction = db.transaction.bind(db)
    let writeTransactions = 0
    let refuse = false
    ;(db as { transaction: unknown }).transaction = ((...args: Parameters<typeof transaction>) => {
      if (args[1] === 'readwrite') writeTransactions++
      if (refuse && args[1] === 'readwrite') throw new DOMException('the backing store failed', 'UnknownError')
      return transaction(...args)
    }) as typeof transaction
    // four at once: one transaction; a block being written is readable before its transaction commits
    const first = blocks.slice(0, 4).map(b => cache.put(b.cid, b.bytes))
    assert.deepEqual(await cache.get(blocks[0]!.cid), blocks[0]!.bytes)
    await Promise.all(first)
    assert.equal(writeTransactions, 1)
    // six more under a 200 KiB cap: some evict earlier blocks, some evict blocks of the same batch
    refuse = true
    const second = await Promise.allSettled(blocks.slice(4).map(b => cache.put(b.cid, b.bytes)))
    assert.ok(second.every(r => r.status === 'rejected' && (r.reason as Error).message === 'the backing store failed'))
    assert.equal(writeTransactions, 2)
    // nothing of the refused batch is booked and every block it would have evicted is back
    assert.equal(cache.stats().usedBytes, 4 * 40 * 1024)
    for (const b of blocks.slice(0, 4)) assert.ok(cache.has(b.cid))
    for (const b of blocks.slice(4)) assert.ok(!cache.has(b.cid))
    refuse = false
    for (const b of blocks.slice(4)) await cache.put(b.cid, b.bytes)
    assert.ok(cache.stats().usedBytes <= cap)
    await cache.stop()
    await reopened.start()
    assert.equal(reopened.stats().usedBytes, cache.stats().usedBytes)
    for (const b of blocks) if (reopened.has(b.cid)) assert.deepEqual(await reopened.get(b.cid), b.bytes)
    assert.deepEqual(await reopened.get(blocks[9]!.cid), blocks[9]!.bytes)
  } finally {
    await cache.stop()
    await reopened.stop()
  }
})

test('blocks are stored as Blobs holding exactly their bytes; Uint8Array values of earlier caches still read', async () => {
  const db = await openStateDb(`test-${process.pid}-values`)
  const cache = new BlockCache({ db, capBytes: 1024 * 1024, persistIntervalMs: 60_000 })
  await cache.start()
  const reopened = new BlockCache({ db, capBytes: 1024 * 1024, persistIntervalMs: 60_000 })
  try {
    // a block that arrived inside a larger frame
    const framed = await block(20 * 1024, 120)
    const frame = new Uint8Array(framed.bytes.length + 5)
    frame.set(framed.bytes, 1)
    await cache.put(framed.cid, frame.subarray(1, 1 + framed.bytes.length))
    const stored = await db.get('blocks', framed.cid.toString())
    assert.ok(stored instanceof Blob)
    assert.equal(stored.size, framed.bytes.length)
    // a cache written when blocks were stored as Uint8Array values
    const old = await block(20 * 1024, 121)
    await db.put('blocks', old.bytes, old.cid.toString())
    await db.put('blockMeta', { bytes: old.bytes.length, lastUsed: Date.now() }, old.cid.toString())
    await cache.stop()
    await reopened.start()
    assert.deepEqual(await reopened.get(old.cid), old.bytes)
    assert.deepEqual(await reopened.get(framed.cid), framed.bytes)
  } finally {
    await cache.stop()
    await reopened.stop()
  }
})

test('deferred writes wait to share a transaction until 4 MiB are queued, the delay passes, a write that is awaited comes, or a flush', async () => {
  const db = await openStateDb(`test-${process.pid}-deferred`)
  const transaction = db.transaction.bind(db)
  let writeTransactions = 0
  ;(db as { transaction: unknown }).transaction = ((...args: Parameters<typeof transaction>) => {
    if (args[1] === 'readwrite') writeTransactions++
    return transaction(...args)
  }) as typeof transaction
  const cache = new BlockCache({ db, capBytes: 64 * 1024 * 1024, persistIntervalMs: 60_000, deferredCommitMs: 60_000 })
  await cache.start()
  const soon = new BlockCache({ db, capBytes: 64 * 1024 * 1024, persistIntervalMs: 60_000, deferredCommitMs: 20 })
  try {
    const small = await Promise.all(Array.from({ length: 6 }, async (_, i) => await block(10 * 1024, 130 + i)))
    const waiting = small.slice(0, 3).map(b => cache.put(b.cid, b.bytes, { deferred: true }))
    await new Promise(resolve => setTimeout(resolve, 30))
    assert.equal(writeTransactions, 0)
    assert.deepEqual(await cache.get(small[0]!.cid), small[0]!.bytes) // readable while it waits
    await cache.put(small[3]!.cid, small[3]!.bytes) // awaited: commits now, with the deferred ones
    await Promise.all(waiting)
    assert.equal(writeTransactions, 1)
    const flushed = small.slice(4).map(b => cache.put(b.cid, b.bytes, { deferred: true }))
    cache.commitDeferred()
    await Promise.all(flushed)
    assert.equal(writeTransactions, 2)
    // 4 MiB queued: committed without waiting; the next one waits again
    const big = await Promise.all(Array.from({ length: 17 }, async (_, i) => await block(256 * 1024, 140 + i)))
    const full = big.slice(0, 16).map(b => cache.put(b.cid, b.bytes, { deferred: true }))
    await Promise.all(full)
    assert.equal(writeTransactions, 3)
    const last = cache.put(big[16]!.cid, big[16]!.bytes, { deferred: true })
    await new Promise(resolve => setTimeout(resolve, 30))
    assert.equal(writeTransactions, 3)
    cache.commitDeferred()
    await last
    assert.equal(writeTransactions, 4)
    // clearing the cache drops deferred writes still waiting, rather than writing them after it
    const dropped = small.slice(0, 2).map(b => cache.put(b.cid, b.bytes, { deferred: true }))
    await cache.clear()
    await Promise.all(dropped)
    assert.equal(writeTransactions, 5) // the clear itself
    assert.equal(cache.stats().usedBytes, 0)
    assert.equal(await db.count('blocks'), 0)
    for (const b of [...small, ...big]) {
      await cache.put(b.cid, b.bytes)
      writeTransactions--
    }
    // the delay passes
    await soon.start()
    const late = await block(10 * 1024, 160)
    await soon.put(late.cid, late.bytes, { deferred: true })
    assert.equal(writeTransactions, 6)
    await cache.stop()
    await soon.stop()
    const reopened = new BlockCache({ db, capBytes: 64 * 1024 * 1024, persistIntervalMs: 60_000 })
    await reopened.start()
    for (const b of [...small, ...big, late]) assert.deepEqual(await reopened.get(b.cid), b.bytes)
    await reopened.stop()
  } finally {
    await cache.stop()
    await soon.stop()
  }
})

/** Reads every block in parallel (as read-ahead does). */
async function readAll (s: ContentSession, blocks: Array<{ cid: CID }>): Promise<{ got: Uint8Array[] }> {
  s.discover(blocks[0]!.cid)
  return { got: await Promise.all(blocks.map(async b => await s.get(b.cid))) }
}

for (const mode of ['stall', 'truncate'] as const) {
  test(`a peer that ${mode === 'stall' ? 'never answers' : 'cuts its answers short'} is routed around to the origin, demoted, and not asked by the next session`, async () => {
    const bad = await badPeer(mode)
    const first = await Promise.all(Array.from({ length: 8 }, async (_, i) => await block(64 * 1024, 300 + i)))
    const second = await Promise.all(Array.from({ length: 4 }, async (_, i) => await block(64 * 1024, 400 + i)))
    const origin = await originServer([...first, ...second])
    const { reputation, saved } = memoryReputation()
    await reputation.start()
    try {
      const one = await session([bad], [origin.url], { reputation, hedgeDelayMs: 400 })
      const read = await readAll(one.session, first)
      read.got.forEach((bytes, i) => { assert.deepEqual(bytes, first[i]!.bytes) })
      assert.ok(bad.requests > 0, 'the bad peer was asked')
      assert.equal(one.received.origin, 8 * 64 * 1024)
      const standing = reputation.standing(bad.id.toString())
      assert.equal(standing.kind, 'demoted')
      if (mode === 'stall') assert.match(one.session.stats.demotedPeers[bad.id.toString()] ?? '', /no answer for/)
      else assert.ok(one.session.stats.droppedPeers[bad.id.toString()] !== undefined)
      await one.close()

      // the next session, with the reputation read back from its store as after a restart
      const restored = new PeerReputation({ store: { load: async () => saved(), save: async () => {} } })
      await restored.start()
      assert.equal(restored.standing(bad.id.toString()).kind, 'demoted')
      const asked = bad.requests
      const two = await session([bad], [origin.url], { reputation: restored, hedgeDelayMs: 400 })
      const again = await readAll(two.session, second)
      again.got.forEach((bytes, i) => { assert.deepEqual(bytes, second[i]!.bytes) })
      assert.equal(bad.requests, asked, 'the demoted peer was not asked while the origin could deliver')
      assert.match(two.session.stats.demotedPeers[bad.id.toString()] ?? '', /^until /)
      await two.close()
    } finally {
      origin.close()
    }
  })
}

test('a peer that sent bytes not matching the CID is banned: the next session does not dial it', async () => {
  const liar = await badPeer('lie')
  const blocks = await Promise.all(Array.from({ length: 3 }, async (_, i) => await block(32 * 1024, 500 + i)))
  const origin = await originServer(blocks)
  const { reputation } = memoryReputation()
  await reputation.start()
  try {
    const one = await session([liar], [origin.url], { reputation, hedgeDelayMs: 400 })
    const read = await readAll(one.session, blocks.slice(0, 2))
    assert.deepEqual(read.got[0], blocks[0]!.bytes)
    assert.match(one.session.stats.droppedPeers[liar.id.toString()] ?? '', /does not match its CID/)
    assert.equal(reputation.standing(liar.id.toString()).kind, 'banned')
    await one.close()
    const dials = liar.dials
    const two = await session([liar], [origin.url], { reputation, hedgeDelayMs: 400 })
    assert.deepEqual((await readAll(two.session, blocks.slice(2))).got[0], blocks[2]!.bytes)
    assert.equal(liar.dials, dials)
    assert.match(two.session.stats.droppedPeers[liar.id.toString()] ?? '', /^banned until .*does not match its CID/)
    await two.close()
  } finally {
    origin.close()
  }
})

test('a demoted peer is asked after the others, and when neither another peer nor the origin can deliver', async () => {
  const demoted = await fakePeer()
  const good = await fakePeer()
  const blocks = await Promise.all(Array.from({ length: 6 }, async (_, i) => await block(16 * 1024, 600 + i)))
  for (const b of blocks) {
    await demoted.cache.put(b.cid, b.bytes)
    await good.cache.put(b.cid, b.bytes)
  }
  const { reputation } = memoryReputation()
  await reputation.start()
  reputation.penalize(demoted.id.toString(), 'stalled', 'stalled earlier')
  const both = await session([demoted, good], [], { reputation })
  await readAll(both.session, blocks.slice(0, 3))
  assert.equal(demoted.served, 0)
  assert.equal(good.served, 3 * 16 * 1024)
  await both.close()
  // alone and without an origin, the demoted peer still delivers
  const alone = await session([demoted], [], { reputation })
  const read = await readAll(alone.session, blocks.slice(3))
  read.got.forEach((bytes, i) => { assert.deepEqual(bytes, blocks[3 + i]!.bytes) })
  assert.equal(demoted.served, 3 * 16 * 1024)
  await alone.close()
  await demoted.stop()
  await good.stop()
})
