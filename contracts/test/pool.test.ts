/**
 * RewardPool on a real anvil chain: a server claims batches of receipts signed by its clients,
 * each with a grant signed by the content's publisher. Every way of getting paid for bytes that
 * were not delivered (or paid already) must pay nothing.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { Signature, TypedDataEncoder, ZeroAddress, id as keccakText, recoverAddress } from 'ethers'
import { GRANT_TYPES, RECEIPT_TYPES, peerloomDomain, signReceipt } from '@peerloom/shared/eip712'
import { buildClaim } from '../src/claim.ts'
import type { ClaimReceipt, ContentClaim } from '../src/claim.ts'
import {
  TOKEN, advanceTime, balanceOf, chainTime, claimReceipts, eventsOf, isolated, randomClients,
  randomContentId, registerContent, rejectsWith, sendClaim, signedReceipt, startFixture
} from './fixture.ts'
import type { Fixture } from './fixture.ts'

const RATE = 3_000_000n // token base units per byte

let f: Fixture
let epochs = 0n
/** A fresh epoch for each claim, so tests do not settle each other's epochs. */
const nextEpoch = (): bigint => ++epochs

before(async () => { f = await startFixture() })
after(async () => { await f?.stop() })

async function budgetOf (contentId: string): Promise<bigint> {
  return (await f.registry.getFunction('content')(contentId)).budget as bigint
}

async function isSettled (server: string, epoch: bigint): Promise<boolean> {
  return await f.pool.getFunction('isSettled')(server, epoch) as boolean
}

describe('claims that pay', () => {
  it('happy path: the server is paid exactly bytes × rate from the content budget', async () => {
    const contentId = await registerContent(f, { ratePerByte: RATE, budget: 1000n * TOKEN })
    const epoch = nextEpoch()
    const sizes = [1_048_576n, 262_144n, 7n]
    const items = await Promise.all(randomClients(sizes.length).map(async (client, i) =>
      await signedReceipt(f, { client, contentId, epoch, bytes: sizes[i]!, maxBytes: 10_000_000n })))
    const serverBefore = await balanceOf(f, f.server.address)
    const budgetBefore = await budgetOf(contentId)

    const receipt = await claimReceipts(f, items)

    const total = sizes.reduce((a, b) => a + b, 0n)
    assert.equal(await balanceOf(f, f.server.address), serverBefore + total * RATE)
    assert.equal(await budgetOf(contentId), budgetBefore - total * RATE)
    assert.equal(await isSettled(f.server.address, epoch), true)
    assert.deepEqual([...eventsOf(receipt, f.pool, 'EpochClaimed')[0]!], [f.server.address, epoch, f.server.address, 3n, total, total * RATE])
    assert.deepEqual([...eventsOf(receipt, f.registry, 'RewardPaid')[0]!], [contentId, f.server.address, total, total * RATE, budgetBefore - total * RATE])
    assert.equal(eventsOf(receipt, f.registry, 'BudgetExhausted').length, 0)
  })

  it('pays several contents in one claim, each from its own budget at its own rate, to a payout address', async () => {
    const rates = [1n, 10n, 100n]
    const contents: string[] = []
    for (const ratePerByte of rates) contents.push(await registerContent(f, { ratePerByte, budget: TOKEN }))
    const epoch = nextEpoch()
    const payee = f.others[3]!.address
    const clients = randomClients(2)
    const items = []
    for (const contentId of contents) {
      for (const client of clients) items.push(await signedReceipt(f, { client, contentId, epoch, bytes: 1000n }))
    }
    const budgetsBefore = await Promise.all(contents.map(budgetOf))
    const payeeBefore = await balanceOf(f, payee)
    const serverBefore = await balanceOf(f, f.server.address)

    await claimReceipts(f, items, { payee })

    assert.equal(await balanceOf(f, payee), payeeBefore + 2000n * (1n + 10n + 100n))
    assert.equal(await balanceOf(f, f.server.address), serverBefore, 'the server named a payout address')
    for (const [i, contentId] of contents.entries()) assert.equal(await budgetOf(contentId), budgetsBefore[i]! - 2000n * rates[i]!)
  })

  it('bytes over the grant are capped at the grant’s maxBytes', async () => {
    const contentId = await registerContent(f, { ratePerByte: RATE })
    const epoch = nextEpoch()
    const [client] = randomClients(1)
    const item = await signedReceipt(f, { client: client!, contentId, epoch, bytes: 5000n, maxBytes: 3000n })
    const before = await balanceOf(f, f.server.address)
    const receipt = await claimReceipts(f, [item])
    assert.equal(await balanceOf(f, f.server.address), before + 3000n * RATE)
    assert.equal(eventsOf(receipt, f.pool, 'EpochClaimed')[0]!.byteCount, 3000n)
  })

  it('exhausted budget: a claim pays what is left and says so; the next pays nothing', async () => {
    const contentId = await registerContent(f, { ratePerByte: RATE, budget: 1000n * RATE })
    const before = await balanceOf(f, f.server.address)
    const epoch = nextEpoch()
    const [a, b] = randomClients(2)
    const receipt = await claimReceipts(f, [
      await signedReceipt(f, { client: a!, contentId, epoch, bytes: 700n }),
      await signedReceipt(f, { client: b!, contentId, epoch, bytes: 800n })
    ])
    assert.equal(await balanceOf(f, f.server.address), before + 1000n * RATE)
    assert.equal(await budgetOf(contentId), 0n)
    assert.deepEqual([...eventsOf(receipt, f.registry, 'BudgetExhausted')[0]!], [contentId, 1500n * RATE, 1000n * RATE])
    assert.equal(await isSettled(f.server.address, epoch), true, 'the epoch is settled even though it was paid in part')

    const later = nextEpoch()
    const again = await claimReceipts(f, [await signedReceipt(f, { client: a!, contentId, epoch: later, bytes: 100n })])
    assert.equal(await balanceOf(f, f.server.address), before + 1000n * RATE)
    assert.deepEqual([...eventsOf(again, f.registry, 'BudgetExhausted')[0]!], [contentId, 100n * RATE, 0n])
  })

  it('after the publisher withdraws an expired budget, claims pay nothing', async () => {
    await isolated(f, async () => {
      const contentId = await registerContent(f, { ratePerByte: RATE, budget: 10n * TOKEN, budgetLifetime: 60 })
      await advanceTime(f, 61)
      await (await f.at('ContentRegistry', f.deployment.registry, f.publisher).getFunction('withdrawBudget')(contentId, f.publisher.address)).wait()
      const before = await balanceOf(f, f.server.address)
      const [client] = randomClients(1)
      await claimReceipts(f, [await signedReceipt(f, { client: client!, contentId, epoch: nextEpoch(), bytes: 100n })])
      assert.equal(await balanceOf(f, f.server.address), before)
    })
  })

  it('a grant that expires in the claim’s own block is still valid; one second later it is not', async () => {
    const contentId = await registerContent(f, { ratePerByte: RATE })
    for (const [delay, ok] of [[0n, true], [1n, false]] as const) {
      await isolated(f, async () => {
        const expiry = (await chainTime(f)) + 100n
        const [client] = randomClients(1)
        const epoch = nextEpoch()
        const item = await signedReceipt(f, { client: client!, contentId, epoch, bytes: 10n, expiry })
        await f.provider.send('evm_setNextBlockTimestamp', [Number(expiry + delay)])
        const { claims } = buildClaim([item])
        if (ok) await sendClaim(f, epoch, claims)
        else await rejectsWith(sendClaim(f, epoch, claims), 'GrantExpired', [client!.address, contentId, expiry])
      })
    }
  })
})

describe('claims that pay nothing', () => {
  it('replay: the same batch claimed twice pays once', async () => {
    const contentId = await registerContent(f, { ratePerByte: RATE })
    const epoch = nextEpoch()
    const items = await Promise.all(randomClients(3).map(async client => await signedReceipt(f, { client, contentId, epoch, bytes: 4096n })))
    await claimReceipts(f, items)
    const paidOnce = await balanceOf(f, f.server.address)
    const budget = await budgetOf(contentId)
    await rejectsWith(claimReceipts(f, items), 'EpochAlreadySettled', [f.server.address, epoch])
    // a later, higher cumulative receipt for the settled epoch does not reopen it either
    const [client] = randomClients(1)
    await rejectsWith(claimReceipts(f, [await signedReceipt(f, { client: client!, contentId, epoch, bytes: 9999n })]), 'EpochAlreadySettled')
    assert.equal(await balanceOf(f, f.server.address), paidOnce)
    assert.equal(await budgetOf(contentId), budget)
  })

  it('replay elsewhere: receipts are bound to their epoch and to the server that claims them', async () => {
    const contentId = await registerContent(f, { ratePerByte: RATE })
    const epoch = nextEpoch()
    const items = await Promise.all(randomClients(2).map(async client => await signedReceipt(f, { client, contentId, epoch, bytes: 4096n })))
    const { claims } = buildClaim(items)
    const first = claims[0]!.receipts[0]!
    await rejectsWith(sendClaim(f, nextEpoch(), claims), 'InvalidReceiptSignature', [first.client, contentId, recoveredAs(first, epoch + 1n, contentId, f.server.address)])
    // front-running: another account submitting the server's receipts (mempool copy) is refused
    const thief = f.others[4]!
    await rejectsWith(sendClaim(f, epoch, claims, { server: thief, payee: thief.address }), 'InvalidReceiptSignature')
    assert.equal(await isSettled(thief.address, epoch), false)
    assert.equal(await isSettled(f.server.address, epoch), false, 'the server can still claim its epoch')
    await sendClaim(f, epoch, claims)
  })

  it('duplicates within a batch and unsorted batches are refused', async () => {
    const contentId = await registerContent(f, { ratePerByte: RATE })
    const epoch = nextEpoch()
    const items = await Promise.all(randomClients(2).map(async client => await signedReceipt(f, { client, contentId, epoch, bytes: 4096n })))
    const { claims } = buildClaim(items)
    const [low, high] = claims[0]!.receipts as [ClaimReceipt, ClaimReceipt]
    const withReceipts = (receipts: ClaimReceipt[]): ContentClaim[] => [{ contentId, receipts }]

    await rejectsWith(sendClaim(f, epoch, withReceipts([low, low])), 'ReceiptsNotSorted', [contentId, low.client, low.client])
    await rejectsWith(sendClaim(f, epoch, withReceipts([low, high, high])), 'ReceiptsNotSorted', [contentId, high.client, high.client])
    await rejectsWith(sendClaim(f, epoch, withReceipts([high, low])), 'ReceiptsNotSorted', [contentId, low.client, high.client])
    // the zero address, which a failed recovery returns, can never be a client
    await rejectsWith(sendClaim(f, epoch, withReceipts([{ ...low, client: ZeroAddress }])), 'ReceiptsNotSorted', [contentId, ZeroAddress, ZeroAddress])
    // the same content twice would pay its receipts twice
    await rejectsWith(sendClaim(f, epoch, [{ contentId, receipts: [low] }, { contentId, receipts: [high] }]), 'ContentsNotSorted', [contentId, contentId])
    const before = await balanceOf(f, f.server.address)
    await sendClaim(f, epoch, withReceipts([low, high]))
    assert.equal(await balanceOf(f, f.server.address), before + 2n * 4096n * RATE)
  })

  it('forged receipt: signed by anyone but the client', async () => {
    const contentId = await registerContent(f, { ratePerByte: RATE })
    const epoch = nextEpoch()
    const [client, forger] = randomClients(2)
    const genuine = await signedReceipt(f, { client: client!, contentId, epoch, bytes: 4096n })
    // the forger signs the very receipt the client would have signed
    const item = { ...genuine, signature: await signReceipt(forger!, f.domain, genuine.receipt) }
    await rejectsWith(claimReceipts(f, [item]), 'InvalidReceiptSignature', [client!.address, contentId, forger!.address])
    assert.equal(await isSettled(f.server.address, epoch), false)
  })

  it('forged grant: signed by anyone but the content’s publisher', async () => {
    const contentId = await registerContent(f, { ratePerByte: RATE })
    const epoch = nextEpoch()
    const [client] = randomClients(1)
    const impostor = f.others[0]!
    const item = await signedReceipt(f, { client: client!, contentId, epoch, bytes: 4096n, grantSigner: impostor })
    await rejectsWith(claimReceipts(f, [item]), 'InvalidGrantSignature', [client!.address, contentId, impostor.address, f.publisher.address])
    // a self-made grant from the client itself is no better
    const self = await signedReceipt(f, { client: client!, contentId, epoch, bytes: 4096n, grantSigner: client! })
    await rejectsWith(claimReceipts(f, [self]), 'InvalidGrantSignature', [client!.address, contentId, client!.address, f.publisher.address])
  })

  it('expired grant', async () => {
    const contentId = await registerContent(f, { ratePerByte: RATE })
    const [client] = randomClients(1)
    const expiry = (await chainTime(f)) - 1n
    const item = await signedReceipt(f, { client: client!, contentId, epoch: nextEpoch(), bytes: 4096n, expiry })
    await rejectsWith(claimReceipts(f, [item]), 'GrantExpired', [client!.address, contentId, expiry])
  })

  it('wrong content: a receipt or a grant for one content cannot be claimed under another', async () => {
    const paid = await registerContent(f, { ratePerByte: RATE })
    const other = await registerContent(f, { ratePerByte: RATE * 10n })
    const epoch = nextEpoch()
    const [client] = randomClients(1)
    const forOther = await signedReceipt(f, { client: client!, contentId: other, epoch, bytes: 4096n })
    const forPaid = await signedReceipt(f, { client: client!, contentId: paid, epoch, bytes: 4096n })
    const entry = (item: typeof forPaid): ClaimReceipt => buildClaim([item]).claims[0]!.receipts[0]!
    const receiptOf = entry(forOther)
    const grantOf = entry(forPaid)
    // the receipt was signed for `paid`, submitted under the richer `other` (with a valid grant for `other`)
    const receiptMoved = { ...entry(forPaid), grantR: receiptOf.grantR, grantVS: receiptOf.grantVS }
    await rejectsWith(sendClaim(f, epoch, [{ contentId: other, receipts: [receiptMoved] }]), 'InvalidReceiptSignature')
    // a valid receipt for `other` with the grant for `paid`
    const grantMoved = { ...receiptOf, grantR: grantOf.grantR, grantVS: grantOf.grantVS }
    await rejectsWith(sendClaim(f, epoch, [{ contentId: other, receipts: [grantMoved] }]), 'InvalidGrantSignature')
    const unknown = randomContentId()
    await rejectsWith(sendClaim(f, epoch, [{ contentId: unknown, receipts: [receiptOf] }]), 'UnknownContent', [unknown])
  })

  it('invalid signatures recover to nobody: s above half the curve order (EIP-2), zero r', async () => {
    const contentId = await registerContent(f, { ratePerByte: RATE })
    const epoch = nextEpoch()
    const [client] = randomClients(1)
    const entry = buildClaim([await signedReceipt(f, { client: client!, contentId, epoch, bytes: 4096n })]).claims[0]!.receipts[0]!
    // the smallest s OpenZeppelin's ECDSA rejects; compact (ERC-2098) signatures can carry it
    const highS = `0x${(0x7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a1n).toString(16)}`
    const zero = `0x${'00'.repeat(32)}`
    const bad: Array<[Partial<ClaimReceipt>, string, unknown[]]> = [
      [{ receiptVS: highS }, 'InvalidReceiptSignature', [client!.address, contentId, ZeroAddress]],
      [{ receiptR: zero }, 'InvalidReceiptSignature', [client!.address, contentId, ZeroAddress]],
      [{ grantVS: highS }, 'InvalidGrantSignature', [client!.address, contentId, ZeroAddress, f.publisher.address]],
      [{ grantR: zero, grantVS: zero }, 'InvalidGrantSignature', [client!.address, contentId, ZeroAddress, f.publisher.address]]
    ]
    for (const [change, error, args] of bad) {
      await rejectsWith(sendClaim(f, epoch, [{ contentId, receipts: [{ ...entry, ...change }] }]), error, args)
    }
  })

  it('malformed claims: no contents, no receipts, no payee', async () => {
    const contentId = await registerContent(f)
    const epoch = nextEpoch()
    await rejectsWith(sendClaim(f, epoch, []), 'EmptyClaim', [])
    await rejectsWith(sendClaim(f, epoch, [{ contentId, receipts: [] }]), 'EmptyContentReceipts', [contentId])
    const [client] = randomClients(1)
    const { claims } = buildClaim([await signedReceipt(f, { client: client!, contentId, epoch, bytes: 1n })])
    await rejectsWith(sendClaim(f, epoch, claims, { payee: ZeroAddress }), 'InvalidPayee', [ZeroAddress])
  })
})

describe('pool state and domain', () => {
  it('settles epochs one bit each: neighbours stay open, across a 256-epoch word boundary', async () => {
    const contentId = await registerContent(f)
    const server = f.others[5]!
    for (const epoch of [255n, 256n, 2n ** 64n - 1n]) {
      const [client] = randomClients(1)
      await claimReceipts(f, [await signedReceipt(f, { client: client!, contentId, epoch, bytes: 1n, server: server.address })], { server })
    }
    const settled = await Promise.all([0n, 254n, 255n, 256n, 257n, 2n ** 64n - 2n, 2n ** 64n - 1n].map(async e => await isSettled(server.address, e)))
    assert.deepEqual(settled, [false, false, true, true, false, false, true])
  })

  it('type hashes and domain match the shared EIP-712 definitions', async () => {
    assert.equal(await f.pool.getFunction('RECEIPT_TYPEHASH')(), keccakText(TypedDataEncoder.from(RECEIPT_TYPES).encodeType('Receipt')))
    assert.equal(await f.pool.getFunction('GRANT_TYPEHASH')(), keccakText(TypedDataEncoder.from(GRANT_TYPES).encodeType('Grant')))
    const domain = peerloomDomain(f.chain.chainId, f.deployment.pool)
    assert.equal(await f.pool.getFunction('DOMAIN_SEPARATOR')(), TypedDataEncoder.hashDomain(domain))
    const [, name, version, chainId, verifyingContract] = await f.pool.getFunction('eip712Domain')() as unknown[]
    assert.deepEqual([name, version, chainId, verifyingContract], ['Peerloom', '1', BigInt(f.chain.chainId), f.deployment.pool])
    assert.equal(await f.pool.getFunction('registry')(), f.deployment.registry)
  })
})

/** Who a receipt entry recovers to when checked against other context, as the contract checks it. */
function recoveredAs (entry: ClaimReceipt, epoch: bigint, contentId: string, server: string): string {
  const digest = TypedDataEncoder.hash(f.domain, RECEIPT_TYPES, { server, client: entry.client, contentId, epoch, bytes: entry.byteCount })
  return recoverAddress(digest, Signature.from({ r: entry.receiptR, yParityAndS: entry.receiptVS }))
}
