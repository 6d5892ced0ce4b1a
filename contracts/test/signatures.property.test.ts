/**
 * Property tests of every signature path of RewardPool.claim, on a real anvil chain, with
 * receipts and grants signed by the project's one EIP-712 signer (@peerloom/shared/eip712):
 * - random valid batches pay exactly Σ min(bytes, maxBytes) × rate, content by content;
 * - changing any signed field or any signature bit of one entry makes the claim revert and pay
 *   nothing, and the untouched batch then still pays in full.
 * Runs are bounded so that the suite stays fast; fast-check prints the seed of a failure.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import fc from 'fast-check'
import { AbiCoder, Signature, Wallet, getAddress, hexlify, randomBytes } from 'ethers'
import { recoverGrantSigner, recoverReceiptSigner, signGrant, signReceipt } from '@peerloom/shared/eip712'
import { buildClaim } from '../src/claim.ts'
import type { ClaimReceipt, ContentClaim, SignedReceiptWithGrant } from '../src/claim.ts'
import { TOKEN, balanceOf, chainTime, randomClients, registerContent, sendClaim, signedReceipt, startFixture } from './fixture.ts'
import type { Fixture } from './fixture.ts'

const RATES = [1n, 977n, 1_000_003n]
const MAX_UINT256 = (1n << 256n) - 1n

let f: Fixture
const contents: string[] = []
let epochs = 1000n

before(async () => {
  f = await startFixture()
  await (await f.token.getFunction('mint')(f.publisher.address, 10n ** 15n * TOKEN)).wait()
  for (const ratePerByte of RATES) contents.push(await registerContent(f, { ratePerByte, budget: 10n ** 14n * TOKEN }))
})
after(async () => { await f?.stop() })

interface EntrySpec {
  content: number
  bytes: bigint
  maxBytes: bigint
  expiresIn: number
}

const entrySpec: fc.Arbitrary<EntrySpec> = fc.record({
  content: fc.integer({ min: 0, max: RATES.length - 1 }),
  bytes: fc.oneof(fc.bigInt({ min: 0n, max: 1n << 40n }), fc.constant(0n)),
  // include "unlimited" grants and grants smaller than the receipt
  maxBytes: fc.oneof(fc.bigInt({ min: 0n, max: 1n << 40n }), fc.constant(MAX_UINT256)),
  expiresIn: fc.integer({ min: 60, max: 10_000_000 })
})
const batchSpec = fc.array(entrySpec, { minLength: 1, maxLength: 6 })

/** Signs a receipt and grant per spec, each for a fresh client. */
async function signBatch (specs: EntrySpec[], epoch: bigint): Promise<{ items: SignedReceiptWithGrant[], clients: Wallet[] }> {
  const now = await chainTime(f)
  const clients = randomClients(specs.length)
  const items = await Promise.all(specs.map(async (spec, i) => await signedReceipt(f, {
    client: clients[i]!,
    contentId: contents[spec.content]!,
    epoch,
    bytes: spec.bytes,
    maxBytes: spec.maxBytes,
    expiry: now + BigInt(spec.expiresIn)
  })))
  return { items, clients }
}

/** What each content's budget pays for a batch, by content id. */
function expectedPayments (items: SignedReceiptWithGrant[]): Map<string, bigint> {
  const owed = new Map<string, bigint>()
  for (const { receipt, grant } of items) {
    const rate = RATES[contents.indexOf(receipt.contentId)]!
    const bytes = receipt.bytes < grant.maxBytes ? receipt.bytes : grant.maxBytes
    owed.set(receipt.contentId, (owed.get(receipt.contentId) ?? 0n) + bytes * rate)
  }
  return owed
}

async function budgets (): Promise<bigint[]> {
  return await Promise.all(contents.map(async id => (await f.registry.getFunction('content')(id)).budget as bigint))
}

async function assertPaysExactly (epoch: bigint, claims: ContentClaim[], items: SignedReceiptWithGrant[]): Promise<void> {
  const owed = expectedPayments(items)
  const total = [...owed.values()].reduce((a, b) => a + b, 0n)
  const serverBefore = await balanceOf(f, f.server.address)
  const budgetsBefore = await budgets()
  await sendClaim(f, epoch, claims)
  assert.equal(await balanceOf(f, f.server.address), serverBefore + total)
  const budgetsAfter = await budgets()
  for (const [i, id] of contents.entries()) assert.equal(budgetsBefore[i]! - budgetsAfter[i]!, owed.get(id) ?? 0n)
}

type Mutation =
  | 'server' | 'client' | 'contentId' | 'epoch' | 'bytes' | 'maxBytes' | 'expiry'
  | 'receiptR' | 'receiptVS' | 'grantR' | 'grantVS' | 'grantSigner'

const MUTATIONS: Mutation[] = ['server', 'client', 'contentId', 'epoch', 'bytes', 'maxBytes', 'expiry', 'receiptR', 'receiptVS', 'grantR', 'grantVS', 'grantSigner']

/**
 * The claim of `items` with entry `index` tampered with: either the client (or publisher)
 * genuinely signed something else, or a submitted value or signature bit differs from what was
 * signed.
 */
async function tamper (items: SignedReceiptWithGrant[], clients: Wallet[], index: number, mutation: Mutation, bit: number): Promise<ContentClaim[]> {
  const item = items[index]!
  const clientKey = clients[index]!
  const target = (group: ContentClaim, entry: ClaimReceipt): boolean =>
    entry.client === clientKey.address && group.contentId === item.receipt.contentId.toLowerCase()
  const editEntry = (edit: (entry: ClaimReceipt) => ClaimReceipt): ContentClaim[] => buildClaim(items).claims.map(group => ({
    contentId: group.contentId,
    receipts: group.receipts.map(entry => (target(group, entry) ? edit(entry) : entry))
  }))
  const flip = (value: bigint): bigint => value ^ (1n << BigInt(bit))
  const flipWord = (hex: string): string => `0x${flip(BigInt(hex)).toString(16).padStart(64, '0')}`

  switch (mutation) {
    case 'server':
    case 'contentId':
    case 'epoch': {
      // the client signed a receipt for another server, content or epoch
      const receipt = {
        ...item.receipt,
        ...(mutation === 'server' ? { server: new Wallet(hexlify(randomBytes(32))).address } : {}),
        ...(mutation === 'contentId' ? { contentId: hexlify(randomBytes(32)) } : {}),
        ...(mutation === 'epoch' ? { epoch: item.receipt.epoch + 1n } : {})
      }
      const signature = Signature.from(await signReceipt(clientKey, f.domain, receipt))
      return editEntry(entry => ({ ...entry, receiptR: signature.r, receiptVS: signature.yParityAndS }))
    }
    case 'grantSigner': {
      // a grant signed by someone who is not the publisher
      const signature = Signature.from(await signGrant(new Wallet(hexlify(randomBytes(32))), f.domain, item.grant))
      return editEntry(entry => ({ ...entry, grantR: signature.r, grantVS: signature.yParityAndS }))
    }
    case 'client': return editEntry(entry => ({ ...entry, client: getAddress(`0x${(BigInt(entry.client) ^ (1n << BigInt(bit % 160))).toString(16).padStart(40, '0')}`) }))
    case 'bytes': return editEntry(entry => ({ ...entry, byteCount: flip(entry.byteCount) }))
    case 'maxBytes': return editEntry(entry => ({ ...entry, grantMaxBytes: flip(entry.grantMaxBytes) }))
    // later, so the grant stays unexpired and only its signature can catch the change
    case 'expiry': return editEntry(entry => ({ ...entry, grantExpiry: entry.grantExpiry + 1n + BigInt(bit) }))
    case 'receiptR': return editEntry(entry => ({ ...entry, receiptR: flipWord(entry.receiptR) }))
    case 'receiptVS': return editEntry(entry => ({ ...entry, receiptVS: flipWord(entry.receiptVS) }))
    case 'grantR': return editEntry(entry => ({ ...entry, grantR: flipWord(entry.grantR) }))
    case 'grantVS': return editEntry(entry => ({ ...entry, grantVS: flipWord(entry.grantVS) }))
  }
}

describe('signature paths (property tests)', () => {
  it('random valid receipts and grants pay exactly Σ min(bytes, maxBytes) × rate', async () => {
    await fc.assert(fc.asyncProperty(batchSpec, async specs => {
      const epoch = ++epochs
      const { items } = await signBatch(specs, epoch)
      for (const { receipt, signature, grant, grantSignature } of items) {
        // the project's off-chain verifier agrees with what the contract will check
        assert.equal(recoverReceiptSigner(f.domain, receipt, signature), getAddress(receipt.client))
        assert.equal(recoverGrantSigner(f.domain, grant, grantSignature), f.publisher.address)
      }
      await assertPaysExactly(epoch, buildClaim(items).claims, items)
    }), { numRuns: 20 })
  })

  it('any changed field or signature bit of one entry pays nothing; the untouched batch then pays in full', async () => {
    const mutation = fc.record({
      index: fc.nat(),
      kind: fc.constantFrom(...MUTATIONS),
      bit: fc.integer({ min: 0, max: 255 })
    })
    await fc.assert(fc.asyncProperty(batchSpec, mutation, async (specs, { index, kind, bit }) => {
      const epoch = ++epochs
      const { items, clients } = await signBatch(specs, epoch)
      const tampered = await tamper(items, clients, index % items.length, kind, bit)
      const serverBefore = await balanceOf(f, f.server.address)
      const budgetsBefore = await budgets()

      await assert.rejects(sendClaim(f, epoch, tampered), `${kind} (bit ${bit}) was accepted`)
      assert.equal(await balanceOf(f, f.server.address), serverBefore)
      assert.deepEqual(await budgets(), budgetsBefore)
      assert.equal(await f.pool.getFunction('isSettled')(f.server.address, epoch), false)

      await assertPaysExactly(epoch, buildClaim(items).claims, items)
    }), { numRuns: 48 })
  })

  it('a non-canonical ABI encoding (dirty address or uint64 bits) is refused', async () => {
    const epoch = ++epochs
    const { items } = await signBatch([{ content: 0, bytes: 10n, maxBytes: 10n, expiresIn: 3600 }], epoch)
    const [group] = buildClaim(items).claims
    const entry = group!.receipts[0]!
    const encode = (client: bigint, expiry: bigint): string => f.pool.interface.getFunction('claim')!.selector + AbiCoder.defaultAbiCoder().encode(
      ['uint64', 'address', 'tuple(bytes32,tuple(uint256,uint256,bytes32,bytes32,uint256,uint256,bytes32,bytes32)[])[]'],
      [epoch, f.server.address, [[group!.contentId, [[client, entry.byteCount, entry.receiptR, entry.receiptVS, entry.grantMaxBytes, expiry, entry.grantR, entry.grantVS]]]]]
    ).slice(2)
    const send = async (data: string): Promise<unknown> => await (await f.server.sendTransaction({ to: f.deployment.pool, data })).wait()
    await assert.rejects(send(encode(BigInt(entry.client) | (1n << 200n), entry.grantExpiry)))
    await assert.rejects(send(encode(BigInt(entry.client), entry.grantExpiry | (1n << 100n))))
    await send(encode(BigInt(entry.client), entry.grantExpiry)) // the canonical encoding of the same claim pays
    assert.equal(await f.pool.getFunction('isSettled')(f.server.address, epoch), true)
  })
})
