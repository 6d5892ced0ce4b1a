/**
 * ContentRegistry on a real anvil chain: registration and access policies, budgets (top up,
 * withdraw after expiry), manifest updates (key rotation), and who may spend budgets.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { ContractFactory, ZeroAddress } from 'ethers'
import type { Contract } from 'ethers'
import {
  AccessKind, PUBLIC_POLICY, TOKEN, advanceTime, balanceOf, chainTime, eventsOf, isolated,
  randomContentId, registerContent, rejectsWith, startFixture
} from './fixture.ts'
import type { AccessPolicy, Fixture } from './fixture.ts'

const MANIFEST = 'bafyreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku'
const ROTATED = 'bafyreibvjvcv745gig4mvqs4hctx4zfkono4rjejm2ta6gtyzkqxfjeily'

let f: Fixture
let registry: Contract

before(async () => {
  f = await startFixture()
  registry = f.registry
})
after(async () => { await f?.stop() })

interface StoredContent {
  publisher: string
  budgetExpiry: bigint
  keyVersion: bigint
  ratePerByte: bigint
  budget: bigint
  policy: { kind: bigint, token: string, id: bigint, minBalance: bigint }
  manifestCid: string
}

async function stored (contentId: string): Promise<StoredContent> {
  const c = await registry.getFunction('content')(contentId)
  return {
    publisher: c.publisher,
    budgetExpiry: c.budgetExpiry,
    keyVersion: c.keyVersion,
    ratePerByte: c.ratePerByte,
    budget: c.budget,
    policy: { kind: c.policy.kind, token: c.policy.token, id: c.policy.id, minBalance: c.policy.minBalance },
    manifestCid: c.manifestCid
  }
}

const asPublisher = (): Contract => f.at('ContentRegistry', f.deployment.registry, f.publisher)

describe('registration', () => {
  it('stores the manifest, key version, rate, budget and policy, and escrows the budget', async () => {
    const contentId = randomContentId()
    const budget = 250n * TOKEN
    const publisherBefore = await balanceOf(f, f.publisher.address)
    const registryBefore = await balanceOf(f, f.deployment.registry)
    await (await f.at('PeerloomToken', f.deployment.token, f.publisher).getFunction('approve')(f.deployment.registry, budget)).wait()
    const expiry = (await chainTime(f)) + 3600n
    const tx = await asPublisher().getFunction('register')(contentId, MANIFEST, 3, PUBLIC_POLICY, 7n, budget, expiry)
    const receipt = await tx.wait()

    assert.deepEqual(await stored(contentId), {
      publisher: f.publisher.address,
      budgetExpiry: expiry,
      keyVersion: 3n,
      ratePerByte: 7n,
      budget,
      policy: { kind: 0n, token: ZeroAddress, id: 0n, minBalance: 0n },
      manifestCid: MANIFEST
    })
    assert.equal(await registry.getFunction('publisherOf')(contentId), f.publisher.address)
    assert.equal(await balanceOf(f, f.publisher.address), publisherBefore - budget)
    assert.equal(await balanceOf(f, f.deployment.registry), registryBefore + budget)

    const [registered] = eventsOf(receipt, registry, 'ContentRegistered')
    assert.deepEqual([...registered!], [contentId, f.publisher.address, MANIFEST, 3n, 7n, expiry])
    assert.deepEqual([...eventsOf(receipt, registry, 'AccessPolicySet')[0]!], [contentId, 0n, ZeroAddress, 0n, 0n])
    assert.deepEqual([...eventsOf(receipt, registry, 'BudgetToppedUp')[0]!], [contentId, f.publisher.address, budget, budget])
  })

  it('stores and enforces each access-policy kind: ERC-20, ERC-721 and ERC-1155 balances', async () => {
    const [holder, stranger] = f.others
    const cases: Array<{ policy: AccessPolicy, grant: () => Promise<void> }> = [
      {
        policy: { kind: AccessKind.ERC20, token: f.deployment.token, id: 0n, minBalance: 5n * TOKEN },
        grant: async () => { await (await f.token.getFunction('mint')(holder!.address, 5n * TOKEN)).wait() }
      },
      {
        policy: { kind: AccessKind.ERC721, token: f.deployment.pass!, id: 0n, minBalance: 1n },
        grant: async () => { await (await f.pass.getFunction('mint')(holder!.address)).wait() }
      },
      {
        policy: { kind: AccessKind.ERC1155, token: f.deployment.badges!, id: 7n, minBalance: 2n },
        grant: async () => {
          await (await f.badges.getFunction('mint')(holder!.address, 8n, 5n)).wait() // the wrong badge does not count
          await (await f.badges.getFunction('mint')(holder!.address, 7n, 1n)).wait() // one short
          assert.equal(await registry.getFunction('hasAccess')(contentId, holder!.address), false)
          await (await f.badges.getFunction('mint')(holder!.address, 7n, 1n)).wait()
        }
      }
    ]
    let contentId = ''
    for (const { policy, grant } of cases) {
      await isolated(f, async () => {
        contentId = await registerContent(f, { policy })
        const { policy: kept } = await stored(contentId)
        assert.deepEqual(kept, { kind: BigInt(policy.kind), token: policy.token, id: policy.id, minBalance: policy.minBalance })
        assert.equal(await registry.getFunction('hasAccess')(contentId, holder!.address), false)
        await grant()
        assert.equal(await registry.getFunction('hasAccess')(contentId, holder!.address), true, `kind ${policy.kind}`)
        assert.equal(await registry.getFunction('hasAccess')(contentId, stranger!.address), false)
      })
    }
    const open = await registerContent(f)
    assert.equal(await registry.getFunction('hasAccess')(open, stranger!.address), true)
  })

  it('rejects malformed access policies', async () => {
    const eoa = f.others[0]!.address
    const bad: AccessPolicy[] = [
      { kind: AccessKind.Public, token: f.deployment.token, id: 0n, minBalance: 0n },
      { kind: AccessKind.Public, token: ZeroAddress, id: 0n, minBalance: 1n },
      { kind: AccessKind.ERC20, token: eoa, id: 0n, minBalance: 1n }, // not a contract
      { kind: AccessKind.ERC20, token: f.deployment.token, id: 0n, minBalance: 0n },
      { kind: AccessKind.ERC20, token: f.deployment.token, id: 1n, minBalance: 1n },
      { kind: AccessKind.ERC721, token: f.deployment.token, id: 0n, minBalance: 1n }, // an ERC-20
      { kind: AccessKind.ERC721, token: f.deployment.pass!, id: 3n, minBalance: 1n },
      { kind: AccessKind.ERC721, token: f.deployment.pass!, id: 0n, minBalance: 0n },
      { kind: AccessKind.ERC1155, token: f.deployment.pass!, id: 1n, minBalance: 1n }, // an ERC-721
      { kind: AccessKind.ERC1155, token: f.deployment.badges!, id: 1n, minBalance: 0n }
    ]
    const expiry = (await chainTime(f)) + 3600n
    for (const policy of bad) {
      await rejectsWith(
        asPublisher().getFunction('register')(randomContentId(), MANIFEST, 1, policy, 1n, 0n, expiry),
        'InvalidAccessPolicy',
        [BigInt(policy.kind), policy.token, policy.id, policy.minBalance]
      )
    }
  })

  it('registers a content id once, never zero, with a manifest and a future expiry', async () => {
    const contentId = await registerContent(f)
    const expiry = (await chainTime(f)) + 3600n
    const other = f.at('ContentRegistry', f.deployment.registry, f.others[0])
    await rejectsWith(other.getFunction('register')(contentId, MANIFEST, 1, PUBLIC_POLICY, 1n, 0n, expiry), 'ContentAlreadyRegistered', [contentId, f.publisher.address])
    const zero = `0x${'00'.repeat(32)}`
    await rejectsWith(asPublisher().getFunction('register')(zero, MANIFEST, 1, PUBLIC_POLICY, 1n, 0n, expiry), 'InvalidContentId', [zero])
    const fresh = randomContentId()
    await rejectsWith(asPublisher().getFunction('register')(fresh, '', 1, PUBLIC_POLICY, 1n, 0n, expiry), 'EmptyManifestCid', [fresh])
    const now = await chainTime(f)
    await rejectsWith(asPublisher().getFunction('register')(fresh, MANIFEST, 1, PUBLIC_POLICY, 1n, 0n, now - 1n), 'InvalidBudgetExpiry')
    assert.equal(await registry.getFunction('publisherOf')(fresh), ZeroAddress)
  })
})

describe('budgets', () => {
  it('top up: anyone can add to a budget; zero and unknown content are refused', async () => {
    const contentId = await registerContent(f, { budget: 10n * TOKEN })
    const sponsor = f.others[1]!
    await (await f.token.getFunction('mint')(sponsor.address, 4n * TOKEN)).wait()
    await (await f.at('PeerloomToken', f.deployment.token, sponsor).getFunction('approve')(f.deployment.registry, 4n * TOKEN)).wait()
    const sponsored = f.at('ContentRegistry', f.deployment.registry, sponsor)
    const receipt = await (await sponsored.getFunction('topUp')(contentId, 4n * TOKEN)).wait()
    assert.equal((await stored(contentId)).budget, 14n * TOKEN)
    assert.equal(await balanceOf(f, sponsor.address), 0n)
    assert.deepEqual([...eventsOf(receipt, registry, 'BudgetToppedUp')[0]!], [contentId, sponsor.address, 4n * TOKEN, 14n * TOKEN])

    await rejectsWith(sponsored.getFunction('topUp')(contentId, 0n), 'ZeroTopUp', [contentId])
    const unknown = randomContentId()
    await rejectsWith(sponsored.getFunction('topUp')(unknown, 1n), 'UnknownContent', [unknown])
  })

  it('withdraw: only the publisher, only after the expiry, and only what is left', async () => {
    await isolated(f, async () => {
      const contentId = await registerContent(f, { budget: 30n * TOKEN, budgetLifetime: 1000 })
      const { budgetExpiry } = await stored(contentId)
      const to = f.others[2]!.address
      await rejectsWith(asPublisher().getFunction('withdrawBudget')(contentId, to), 'BudgetLocked', [contentId, budgetExpiry])
      await advanceTime(f, 1001)
      const intruder = f.at('ContentRegistry', f.deployment.registry, f.others[0])
      await rejectsWith(intruder.getFunction('withdrawBudget')(contentId, f.others[0]!.address), 'NotPublisher', [contentId, f.others[0]!.address, f.publisher.address])
      await rejectsWith(asPublisher().getFunction('withdrawBudget')(contentId, ZeroAddress), 'InvalidRecipient', [ZeroAddress])

      const receipt = await (await asPublisher().getFunction('withdrawBudget')(contentId, to)).wait()
      assert.equal(await balanceOf(f, to), 30n * TOKEN)
      assert.equal((await stored(contentId)).budget, 0n)
      assert.deepEqual([...eventsOf(receipt, registry, 'BudgetWithdrawn')[0]!], [contentId, to, 30n * TOKEN])
      await (await asPublisher().getFunction('withdrawBudget')(contentId, to)).wait()
      assert.equal(await balanceOf(f, to), 30n * TOKEN, 'a second withdrawal pays nothing')
    })
  })

  it('the expiry can only move later, by the publisher, and keeps the budget locked', async () => {
    await isolated(f, async () => {
      const contentId = await registerContent(f, { budget: 5n * TOKEN, budgetLifetime: 100 })
      const { budgetExpiry } = await stored(contentId)
      await rejectsWith(asPublisher().getFunction('extendBudgetExpiry')(contentId, budgetExpiry), 'InvalidBudgetExpiry', [contentId, budgetExpiry, budgetExpiry])
      const intruder = f.at('ContentRegistry', f.deployment.registry, f.others[0])
      await rejectsWith(intruder.getFunction('extendBudgetExpiry')(contentId, budgetExpiry + 10n), 'NotPublisher')
      const later = budgetExpiry + 10_000n
      const receipt = await (await asPublisher().getFunction('extendBudgetExpiry')(contentId, later)).wait()
      assert.deepEqual([...eventsOf(receipt, registry, 'BudgetExpiryExtended')[0]!], [contentId, later])
      await advanceTime(f, 200)
      await rejectsWith(asPublisher().getFunction('withdrawBudget')(contentId, f.publisher.address), 'BudgetLocked', [contentId, later])
    })
  })
})

describe('manifest', () => {
  it('update: the publisher points the content at a new manifest and key version', async () => {
    const contentId = await registerContent(f, { keyVersion: 1 })
    const receipt = await (await asPublisher().getFunction('updateManifest')(contentId, ROTATED, 2)).wait()
    const after = await stored(contentId)
    assert.equal(after.manifestCid, ROTATED)
    assert.equal(after.keyVersion, 2n)
    assert.deepEqual([...eventsOf(receipt, registry, 'ManifestUpdated')[0]!], [contentId, ROTATED, 2n])

    await rejectsWith(asPublisher().getFunction('updateManifest')(contentId, MANIFEST, 1), 'KeyVersionRegressed', [contentId, 2n, 1n])
    await rejectsWith(asPublisher().getFunction('updateManifest')(contentId, '', 3), 'EmptyManifestCid', [contentId])
    const intruder = f.at('ContentRegistry', f.deployment.registry, f.others[0])
    await rejectsWith(intruder.getFunction('updateManifest')(contentId, MANIFEST, 9), 'NotPublisher', [contentId, f.others[0]!.address, f.publisher.address])
    await (await asPublisher().getFunction('updateManifest')(contentId, MANIFEST, 2)).wait() // same key version: a manifest fix
    assert.equal((await stored(contentId)).manifestCid, MANIFEST)
  })
})

describe('spending', () => {
  it('the pool is bound once, the registry then has no owner, and only the pool can pay rewards', async () => {
    assert.equal(await registry.getFunction('rewardPool')(), f.deployment.pool)
    assert.equal(await registry.getFunction('owner')(), ZeroAddress)
    assert.equal(await registry.getFunction('token')(), f.deployment.token)
    await rejectsWith(registry.getFunction('bindRewardPool')(f.others[0]!.address), 'OwnableUnauthorizedAccount', [f.deployer.address])
    const contentId = await registerContent(f)
    await rejectsWith(registry.getFunction('payRewards')([contentId], [1n], f.deployer.address), 'NotRewardPool', [f.deployer.address])
  })

  it('binding: the owner binds a non-zero pool once, which renounces ownership', async () => {
    const { abi, bytecode } = f.artifacts.contracts.ContentRegistry
    const fresh = await (await new ContractFactory(abi, bytecode, f.deployer).deploy(f.deployment.token, f.deployer.address)).waitForDeployment() as unknown as Contract
    await rejectsWith(fresh.getFunction('payRewards')([], [], f.deployer.address), 'NotRewardPool', [f.deployer.address])
    await rejectsWith(fresh.getFunction('bindRewardPool')(ZeroAddress), 'InvalidRecipient', [ZeroAddress])
    const pool = f.others[0]!.address
    const receipt = await (await fresh.getFunction('bindRewardPool')(pool)).wait()
    assert.deepEqual([...eventsOf(receipt, fresh, 'RewardPoolBound')[0]!], [pool])
    assert.deepEqual([...eventsOf(receipt, fresh, 'OwnershipTransferred')[0]!], [f.deployer.address, ZeroAddress])
    assert.equal(await fresh.getFunction('rewardPool')(), pool)
    await rejectsWith(fresh.getFunction('bindRewardPool')(f.others[1]!.address), 'OwnableUnauthorizedAccount', [f.deployer.address])
  })

  it('unknown content has no publisher and no access answer', async () => {
    const unknown = randomContentId()
    assert.equal(await registry.getFunction('publisherOf')(unknown), ZeroAddress)
    await rejectsWith(registry.getFunction('hasAccess')(unknown, f.publisher.address), 'UnknownContent', [unknown])
  })
})
