/**
 * Rewards in the extension: the server's receipt book (IndexedDB, survives a restart), the
 * receipts protocol between a client and a server over in-memory streams (validation, an epoch
 * closed mid-transfer loses and double-counts nothing), and the claimer on a real anvil chain
 * (pays bytes × rate; an unreachable chain keeps the epoch and a later pass claims it; a second
 * claim of the same epoch pays nothing).
 */
import './polyfills.ts'
import 'fake-indexeddb/auto'
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { createServer } from 'node:http'
import type { IncomingMessage, Server, ServerResponse } from 'node:http'
import { once } from 'node:events'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import type { Connection, PeerId, Stream, StreamHandler } from '@libp2p/interface'
import { streamPair } from '@libp2p/utils'
import { Contract, JsonRpcProvider, Wallet, hexlify } from 'ethers'
import { deployAll, startChain } from '@peerloom/contracts'
import type { Chain, Deployment } from '@peerloom/contracts'
import { nodeSettingsSchema, parseConfig, peerloomDomain, signGrant, signReceipt } from '@peerloom/shared'
import type { NodeSettings, SignedReceipt } from '@peerloom/shared'
import registryAbi from '@peerloom/shared/abi/ContentRegistry.json' with { type: 'json' }
import tokenAbi from '@peerloom/shared/abi/PeerloomToken.json' with { type: 'json' }
import { Claimer } from '../src/rewards/claimer.ts'
import type { ClaimStatus } from '../src/rewards/claimer.ts'
import { ReceiptBook } from '../src/rewards/receipt-book.ts'
import { ReceiptClient, ReceiptServer, addressOfPeer } from '../src/rewards/receipt-protocol.ts'
import type { StoredAccount } from '../src/rewards/receipt-protocol.ts'
import { openRewardsDb } from '../src/rewards/rewards-db.ts'

let dbCount = 0
const randomWallet = (): Wallet => new Wallet(hexlify(crypto.getRandomValues(new Uint8Array(32))))
const dbName = (): string => `rewards-test-${process.pid}-${dbCount++}`

interface Party { peer: PeerId, wallet: Wallet }
async function party (): Promise<Party> {
  const key = await generateKeyPair('secp256k1')
  return { peer: peerIdFromPrivateKey(key), wallet: new Wallet(hexlify(key.raw)) }
}

const POOL = '0x5FC8d32690cc91D4c39d9d3abcBD16989F875707'
const DOMAIN = peerloomDomain(31337, POOL)
const CONTENT = `0x${'11'.repeat(32)}`

async function grantFor (publisher: Wallet, client: string, expiry = BigInt(Math.floor(Date.now() / 1000) + 3600), domain = DOMAIN): Promise<{ grant: SignedReceipt['grant'], grantSignature: string }> {
  const grant = { client, contentId: CONTENT, maxBytes: 10n ** 9n, expiry }
  return { grant, grantSignature: await signGrant(publisher, domain, grant) }
}

describe('receipt book', () => {
  it('keeps the highest receipt per client and content in the open epoch, closes epochs, and survives a restart', async () => {
    const name = dbName()
    const book = new ReceiptBook(await openRewardsDb(name))
    await book.start(1_000_000)
    const first = book.epoch
    assert.equal(first, 1000n)
    const publisher = randomWallet()
    const clients = [randomWallet(), randomWallet()]
    const receipt = async (client: Wallet, bytes: bigint, epoch = book.epoch): Promise<SignedReceipt> => {
      const r = { server: publisher.address, client: client.address, contentId: CONTENT, epoch, bytes }
      return { receipt: r, signature: await signReceipt(client, DOMAIN, r), ...await grantFor(publisher, client.address) }
    }
    assert.deepEqual(await book.accept(await receipt(clients[0] as Wallet, 100n)), { accepted: true, epoch: first })
    assert.deepEqual(await book.accept(await receipt(clients[0] as Wallet, 300n)), { accepted: true, epoch: first })
    assert.deepEqual(await book.accept(await receipt(clients[0] as Wallet, 200n)), { accepted: true, epoch: first }, 'an older cumulative receipt changes nothing')
    assert.deepEqual(await book.accept(await receipt(clients[1] as Wallet, 50n)), { accepted: true, epoch: first })
    assert.deepEqual(await book.accept(await receipt(clients[1] as Wallet, 60n, first + 5n)), { accepted: false, epoch: first }, 'another epoch is refused with the open one')
    assert.equal((await book.earnings()).pending.bytes, '350')
    assert.equal(book.due(3600, 10_000, 1_000_000 + 10_000), false)
    assert.equal(book.due(3600, 300, 1_000_000 + 10_000), true, 'past the threshold')
    assert.equal(book.due(5, 10_000, 1_000_000 + 5_000), true, 'at the epoch end')

    await book.close(1_000_500)
    assert.equal(book.epoch, first + 1n, 'epochs always increase, even within a second')
    assert.deepEqual(await book.accept(await receipt(clients[0] as Wallet, 400n, first)), { accepted: false, epoch: first + 1n }, 'a closed epoch takes no receipts')

    const again = new ReceiptBook(await openRewardsDb(name))
    await again.start(2_000_000)
    assert.equal(again.epoch, first + 1n, 'the open epoch survives a restart')
    const unsettled = await again.unsettled()
    assert.deepEqual(unsettled.map(e => [e.epoch, e.status, e.bytes, e.receipts]), [[first.toString(), 'closed', '350', 2]])
    const receipts = await again.receiptsOf(first.toString())
    assert.deepEqual(receipts.map(r => r.receipt.bytes).sort(), [300n, 50n].sort())
    await again.drop(first.toString(), CONTENT, (clients[1] as Wallet).address, 'test')
    assert.equal((await again.unsettled())[0]?.bytes, '300')
  })
})

/** A client and a server joined by in-memory streams. */
async function link (serverParty: Party, clientParty: Party, publisherOf: () => Promise<string | undefined>, book: ReceiptBook): Promise<{ client: ReceiptClient, server: ReceiptServer, grants: Map<string, SignedReceipt['grant'] & { signature: string }>, dial: () => Promise<Stream> }> {
  let handler: StreamHandler | undefined
  const server = new ReceiptServer({
    libp2p: { handle: async (_p: string | string[], h: StreamHandler) => { handler = h }, unhandle: async () => {} } as never,
    book,
    address: () => serverParty.wallet.address,
    domain: () => DOMAIN,
    publisherOf
  })
  await server.start()
  const grants = new Map<string, SignedReceipt['grant'] & { signature: string }>()
  const dial = async (): Promise<Stream> => {
    const [outbound, inbound] = await streamPair()
    void handler?.(inbound, { remotePeer: clientParty.peer } as unknown as Connection)
    return outbound
  }
  const client = new ReceiptClient({
    dialProtocol: dial,
    signer: clientParty.wallet,
    domain: () => DOMAIN,
    grantFor: async contentId => grants.get(contentId)
  })
  return { client, server, grants, dial }
}

describe('receipts protocol', () => {
  it('a server accepts valid receipts; an epoch closed mid-transfer moves only the unaccepted bytes to the next', async () => {
    const [serverParty, clientParty] = [await party(), await party()]
    const publisher = randomWallet()
    const book = new ReceiptBook(await openRewardsDb(dbName()))
    await book.start(Date.now() - 100_000) // opened a while ago: the client's first guess of the epoch is wrong
    const { client, grants } = await link(serverParty, clientParty, async () => publisher.address, book)
    assert.equal(addressOfPeer(serverParty.peer), serverParty.wallet.address, 'a peer id is its address')

    client.record(serverParty.peer, CONTENT, 1000)
    assert.deepEqual(await client.flush(), [], 'no grant, no receipt')
    const { grant, grantSignature } = await grantFor(publisher, clientParty.wallet.address)
    grants.set(CONTENT, { ...grant, signature: grantSignature })
    const answers = await client.flush()
    // the client guessed the epoch: the server names its own, and the client signs for it
    assert.deepEqual(answers.map(a => a.answer?.status), ['epoch-closed', 'accepted'])
    const first = book.epoch
    await book.close()
    client.record(serverParty.peer, CONTENT, 500)
    const later = await client.flush()
    assert.deepEqual(later.map(a => a.answer?.status), ['epoch-closed', 'accepted'])
    client.record(serverParty.peer, CONTENT, 24)
    assert.deepEqual((await client.flush()).map(a => a.answer?.status), ['accepted'])
    assert.deepEqual(client.summary().map(s => [s.delivered, s.accepted]), [['1524', '1524']])
    const closed = await book.receiptsOf(first.toString())
    const open = await book.receiptsOf(book.epoch.toString())
    assert.deepEqual(closed.map(r => r.receipt.bytes), [1000n], 'the closed epoch keeps what it had')
    assert.deepEqual(open.map(r => r.receipt.bytes), [524n], 'the new epoch gets the rest, once')
  })

  it('bytes not yet receipted survive a restart of the client and are receipted once the server is reachable', async () => {
    const [serverParty, clientParty] = [await party(), await party()]
    const publisher = randomWallet()
    const book = new ReceiptBook(await openRewardsDb(dbName()))
    await book.start()
    const { dial } = await link(serverParty, clientParty, async () => publisher.address, book)
    let saved: StoredAccount[] | undefined
    const store = { load: async () => saved, save: async (accounts: StoredAccount[]) => { saved = structuredClone(accounts) } }
    const { grant, grantSignature } = await grantFor(publisher, clientParty.wallet.address)
    const grantFor_ = async (): Promise<SignedReceipt['grant'] & { signature: string }> => ({ ...grant, signature: grantSignature })
    const offline = new ReceiptClient({ dialProtocol: async () => { throw new Error('no route to the server') }, signer: clientParty.wallet, domain: () => DOMAIN, grantFor: grantFor_, store })
    await offline.start()
    offline.record(serverParty.peer, CONTENT, 4096)
    assert.equal((await offline.flush())[0]?.error, 'no route to the server')
    assert.equal(saved?.[0]?.delivered, '4096')

    // the browser restarts: a new client, the same store, and the server is reachable again
    const restarted = new ReceiptClient({ dialProtocol: dial, signer: clientParty.wallet, domain: () => DOMAIN, grantFor: grantFor_, store })
    await restarted.start()
    assert.deepEqual((await restarted.flush()).map(a => a.answer?.status).at(-1), 'accepted')
    assert.deepEqual((await book.receiptsOf(book.epoch.toString())).map(r => r.receipt.bytes), [4096n])
    assert.equal(saved?.[0]?.accepted, '4096')
  })

  it('rejects receipts the pool would refuse, and asks to retry when the chain cannot be read', async () => {
    const [serverParty, clientParty, other] = [await party(), await party(), await party()]
    const publisher = randomWallet()
    const book = new ReceiptBook(await openRewardsDb(dbName()))
    await book.start()
    let chainUp = true
    const { server } = await link(serverParty, clientParty, async () => { if (!chainUp) throw new Error('connect ECONNREFUSED'); return publisher.address }, book)
    const message = async (fields: { server?: string, signer?: Wallet, grantSigner?: Wallet, expiry?: bigint, bytes?: bigint } = {}): Promise<Uint8Array> => {
      const receipt = { server: fields.server ?? serverParty.wallet.address, client: clientParty.wallet.address, contentId: CONTENT, epoch: book.epoch, bytes: fields.bytes ?? 10n }
      const { grant, grantSignature } = await grantFor(fields.grantSigner ?? publisher, clientParty.wallet.address, fields.expiry)
      const { encodeReceiptMessage } = await import('@peerloom/shared')
      return encodeReceiptMessage({ receipt, signature: await signReceipt(fields.signer ?? clientParty.wallet, DOMAIN, receipt), grant, grantSignature })
    }
    const check = async (bytes: Uint8Array, from = clientParty.peer): Promise<{ status: string, message?: string }> => await server.check(bytes, from)
    assert.equal((await check(await message())).status, 'accepted')
    assert.match((await check(await message({ server: other.wallet.address }))).message ?? '', /names server .* not this node/)
    assert.match((await check(await message({ signer: other.wallet }))).message ?? '', /signed by .* not by its client/)
    assert.match((await check(await message({ grantSigner: other.wallet }))).message ?? '', /grant is signed by .* not by the publisher/)
    assert.match((await check(await message({ expiry: 1000n }))).message ?? '', /grant expired/)
    assert.match((await check(await message(), other.peer)).message ?? '', /came from/)
    assert.match((await check(new TextEncoder().encode('{"receipt":1}'))).message ?? '', /receipt/)
    chainUp = false
    assert.equal((await check(await message({ bytes: 20n }))).status, 'unavailable')
    assert.equal((await book.receiptsOf(book.epoch.toString()))[0]?.receipt.bytes, 10n, 'only the valid receipt was stored')
  })
})

/** A loopback HTTP server answering every JSON-RPC request with `answer`; resolves with its URL. */
async function rpcServer (answer: (req: IncomingMessage, body: string, res: ServerResponse) => void): Promise<{ url: string, server: Server }> {
  const server = createServer((req, res) => {
    let body = ''
    req.on('data', (chunk: Buffer) => { body += chunk.toString() })
    req.on('end', () => { answer(req, body, res) })
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  return { url: `http://127.0.0.1:${(server.address() as { port: number }).port}`, server }
}

/** A loopback URL nothing listens on: connections are refused. */
async function refusedUrl (): Promise<string> {
  const { url, server } = await rpcServer(() => {})
  server.close()
  await once(server, 'close')
  return url
}

describe('claimer on a real chain', () => {
  let chain: Chain
  let deployment: Deployment
  let provider: JsonRpcProvider
  let publisher: Wallet
  const RATE = 7n

  before(async () => {
    chain = await startChain()
    provider = new JsonRpcProvider(chain.rpcUrl, chain.chainId, { staticNetwork: true, batchMaxCount: 1, cacheTimeout: -1, pollingInterval: 50 })
    const deployer = new Wallet(chain.accounts[0] as string, provider)
    publisher = new Wallet(chain.accounts[1] as string, provider)
    deployment = await deployAll(deployer, { mint: [{ to: publisher.address, amount: 10n ** 24n }], devnetTokens: false })
    await (await new Contract(deployment.token, tokenAbi, publisher).getFunction('approve')(deployment.registry, 10n ** 20n)).wait()
    const policy = { kind: 0, token: '0x0000000000000000000000000000000000000000', id: 0n, minBalance: 0n }
    const expiry = BigInt(Math.floor(Date.now() / 1000) + 86_400)
    await (await new Contract(deployment.registry, registryAbi, publisher).getFunction('register')(CONTENT, 'bafy-manifest', 1, policy, RATE, 10n ** 20n, expiry)).wait()
  })

  after(async () => { await chain?.stop() })

  /** Receipts from `count` new clients (100 kB, 200 kB, …) accepted into the open epoch; resolves with their bytes. */
  async function receiptsFrom (count: number, server: Party, book: ReceiptBook): Promise<bigint> {
    const domain = peerloomDomain(chain.chainId, deployment.pool)
    let total = 0n
    for (let i = 0; i < count; i++) {
      const client = randomWallet()
      const bytes = BigInt(100_000 * (i + 1))
      total += bytes
      const receipt = { server: server.wallet.address, client: client.address, contentId: CONTENT, epoch: book.epoch, bytes }
      const { grant, grantSignature } = await grantFor(publisher, client.address, undefined, domain)
      assert.equal((await book.accept({ receipt, signature: await signReceipt(client, domain, receipt), grant, grantSignature })).accepted, true)
    }
    return total
  }

  it('claims a closed epoch (bytes × rate to the payout address); with the chain down or no gas the epoch waits and is claimed later; a second claim pays nothing', async () => {
    const server = await party()
    const book = new ReceiptBook(await openRewardsDb(dbName()))
    await book.start()
    const total = await receiptsFrom(3, server, book)
    const payout = randomWallet().address
    let settings: NodeSettings = parseConfig(nodeSettingsSchema, { rpcUrl: 'http://127.0.0.1:9', chainId: chain.chainId, rewardPool: deployment.pool, contentRegistry: deployment.registry, payoutAddress: payout, epochSeconds: 2 }, 'settings')
    const errors: unknown[] = []
    const claimer = new Claimer({ book, settings: () => settings, signer: () => server.wallet, onError: err => errors.push(err) })

    await claimer.tick({ closeNow: true })
    const waiting = await book.earnings()
    assert.equal(waiting.pending.bytes, total.toString(), 'nothing lost while the chain is down')
    assert.equal(waiting.paid.length, 0)
    assert.ok(errors.length > 0 && waiting.lastError !== undefined, 'the failure is shown')

    settings = { ...settings, rpcUrl: chain.rpcUrl }
    await claimer.tick()
    const noGas = await book.earnings()
    assert.match(noGas.lastError ?? '', /has no ETH to pay the claim's gas/, 'a server without gas is told so')
    assert.equal(noGas.pending.bytes, total.toString())

    await provider.send('anvil_setBalance', [server.wallet.address, '0x8ac7230489e80000'])
    await claimer.tick({ closeNow: true }) // "Claim now": the backoff after the failure would wait
    const paid = await book.earnings()
    assert.equal(paid.pending.bytes, '0')
    assert.equal(paid.paid.length, 1)
    assert.match(paid.paid[0]?.txHash ?? '', /^0x[0-9a-f]{64}$/)
    assert.equal(paid.paid[0]?.paid, (total * RATE).toString())
    assert.equal(paid.paid[0]?.claimedBytes, total.toString())
    const token = new Contract(deployment.token, tokenAbi, provider)
    assert.equal(await token.getFunction('balanceOf')(payout), total * RATE, 'the payout address got exactly bytes × rate')

    // the same batch again, straight to the pool: refused, nothing paid
    const tx = await provider.getTransaction(paid.paid[0]?.txHash as string)
    await assert.rejects(server.wallet.connect(provider).sendTransaction({ to: deployment.pool, data: tx?.data as string }), /EpochAlreadySettled|execution reverted|0x/)
    await claimer.tick()
    assert.equal(await token.getFunction('balanceOf')(payout), total * RATE)
    assert.equal((await book.earnings()).totalPaid, (total * RATE).toString())
  })

  it('an unreachable chain (refused, silent, answering errors) keeps every receipt, says so with a code and backs off; once back, each kept epoch is paid exactly once, across a restart and a lost answer too', async () => {
    const server = await party()
    const name = dbName()
    let book = new ReceiptBook(await openRewardsDb(name))
    await book.start()
    const refused = await refusedUrl()
    const silent = await rpcServer(() => {}) // accepts, never answers
    const failing = await rpcServer((_req, body, res) => {
      res.setHeader('content-type', 'application/json')
      res.end(JSON.stringify({ jsonrpc: '2.0', id: (JSON.parse(body) as { id: number }).id, error: { code: -32603, message: 'internal error' } }))
    })
    // forwards to anvil, but the answer to the claim transaction is lost on the way back (it is mined)
    const lossy = await rpcServer((req, body, res) => {
      void fetch(chain.rpcUrl, { method: 'POST', headers: { 'content-type': 'application/json' }, body }).then(async upstream => {
        const text = await upstream.text()
        if ((JSON.parse(body) as { method: string }).method === 'eth_sendRawTransaction') req.socket.destroy()
        else res.setHeader('content-type', 'application/json').end(text)
      })
    })
    try {
      const payout = randomWallet().address
      await provider.send('anvil_setBalance', [server.wallet.address, '0x8ac7230489e80000'])
      let settings: NodeSettings = parseConfig(nodeSettingsSchema, { rpcUrl: refused, chainId: chain.chainId, rewardPool: deployment.pool, contentRegistry: deployment.registry, payoutAddress: payout, epochSeconds: 2 }, 'settings')
      let clock = Date.now()
      // short while the silent chain is to time out; read per connection (each phase names another URL)
      let rpcTimeoutMs = 300
      const errors: Array<{ code?: number }> = []
      const claimerFor = (receiptBook: ReceiptBook): Claimer => new Claimer({ book: receiptBook, settings: () => settings, signer: () => server.wallet, now: () => clock, get rpcTimeoutMs () { return rpcTimeoutMs }, onError: err => errors.push(err as { code?: number }) })
      let claimer = claimerFor(book)
      const status = async (): Promise<ClaimStatus> => await claimer.status()
      const attempts = async (): Promise<number[]> => (await book.unsettled()).map(e => e.attempts)

      const first = await receiptsFrom(2, server, book)
      await claimer.tick({ closeNow: true })
      let claim = await status()
      assert.equal(claim.state, 'retrying')
      assert.equal(claim.code, 5012)
      assert.equal(claim.reason, 'unreachable')
      assert.equal(claim.message, `chain unreachable at ${refused} (connection refused); 1 epoch of receipts kept, retry in 1 s`)
      assert.deepEqual(claim.kept, { epochs: 1, receipts: 2, bytes: first.toString() })
      assert.equal(errors.at(-1)?.code, 5012, 'the node\'s error log gets the coded error')
      assert.deepEqual(await attempts(), [1])

      await claimer.tick()
      assert.deepEqual(await attempts(), [1], 'no attempt before the retry is due')
      clock += 1000
      await claimer.tick()
      claim = await status()
      assert.deepEqual([claim.failures, await attempts()], [2, [2]], 'retried once due')
      assert.equal((claim.nextAttemptAt ?? 0) - (claim.lastAttemptAt ?? 0), 2000, 'the wait doubles')

      const second = await receiptsFrom(1, server, book)
      await book.close(clock)
      settings = { ...settings, rpcUrl: silent.url }
      await claimer.tick()
      claim = await status()
      assert.equal(claim.code, 5010)
      assert.equal(claim.reason, 'timeout')
      assert.equal(claim.message, `chain unreachable at ${silent.url} (no answer within 0.3 s); 2 epochs of receipts kept, retry in 1 s`)
      settings = { ...settings, rpcUrl: failing.url }
      await claimer.tick()
      claim = await status()
      assert.equal(claim.reason, 'rpc-error')
      assert.match(claim.message ?? '', new RegExp(`^chain RPC at ${failing.url} answered with an error: internal error; 2 epochs of receipts kept, retry in 1 s$`))
      const waiting = await book.earnings()
      assert.deepEqual([waiting.pending.bytes, waiting.pending.receipts, waiting.paid.length], [(first + second).toString(), 3, 0], 'every receipt kept, nothing paid')

      // the browser restarts while the chain is still down: the epochs and their receipts are in IndexedDB
      claimer.stop()
      book = new ReceiptBook(await openRewardsDb(name))
      await book.start(clock)
      claimer = claimerFor(book)
      settings = { ...settings, rpcUrl: refused }
      await claimer.tick()
      claim = await status()
      assert.deepEqual([claim.reason, claim.failures, claim.kept], ['unreachable', 1, { epochs: 2, receipts: 3, bytes: (first + second).toString() }])

      // the chain is back, but the answer to the first claim is lost: mined, and recorded once from its event
      // (through a proxy to anvil, which on a busy machine may take longer than 0.3 s to answer)
      rpcTimeoutMs = 60_000
      settings = { ...settings, rpcUrl: lossy.url }
      await claimer.tick()
      assert.equal((await status()).reason, 'unreachable')
      const token = new Contract(deployment.token, tokenAbi, provider)
      assert.equal(await token.getFunction('balanceOf')(payout), first * RATE, 'the first epoch was paid on chain')
      settings = { ...settings, rpcUrl: chain.rpcUrl }
      await claimer.tick()
      claim = await status()
      assert.deepEqual([claim.state, claim.failures, claim.kept], ['ok', 0, { epochs: 0, receipts: 0, bytes: '0' }])
      const paid = await book.earnings()
      assert.equal(paid.lastError, undefined)
      assert.deepEqual(paid.paid.map(p => [p.claimedBytes, p.paid]).sort(), [[first.toString(), (first * RATE).toString()], [second.toString(), (second * RATE).toString()]].sort())
      for (const p of paid.paid) assert.match(p.txHash ?? '', /^0x[0-9a-f]{64}$/)
      assert.equal(paid.totalPaid, ((first + second) * RATE).toString())
      assert.equal(await token.getFunction('balanceOf')(payout), (first + second) * RATE, 'each epoch paid exactly once')

      clock += 60_000
      await claimer.tick({ closeNow: true })
      assert.equal(await token.getFunction('balanceOf')(payout), (first + second) * RATE, 'a further claim pays nothing')
      assert.equal((await book.earnings()).totalPaid, ((first + second) * RATE).toString())
    } finally {
      silent.server.closeAllConnections()
      for (const s of [silent.server, failing.server, lossy.server]) s.close()
    }
  })
})
