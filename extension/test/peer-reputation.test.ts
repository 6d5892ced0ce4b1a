/** PeerReputation: bans and demotions, how long they last, and that they survive a restart. */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { PEER_BAN_MS, PEER_DEMOTION_MAX_MS, PEER_DEMOTION_MS, PEER_REPUTATION_MAX_RECORDS, PEER_STRIKE_MEMORY_MS, PeerReputation } from '../src/net/peer-reputation.ts'
import type { ReputationRecord } from '../src/net/peer-reputation.ts'

function setup (saved: ReputationRecord[] = []) {
  let now = 1_000_000
  const store = { records: saved, saves: 0 }
  const banned: string[] = []
  const reputation = new PeerReputation({
    store: { load: async () => store.records, save: async records => { store.records = records; store.saves++ } },
    now: () => now,
    onBanned: peer => { banned.push(peer) }
  })
  return { reputation, store, banned, advance: (ms: number) => { now += ms }, now: () => now }
}

test('a peer that sent bad bytes is banned for PEER_BAN_MS, and the ban survives a restart', async () => {
  const { reputation, store, banned } = setup()
  await reputation.start()
  assert.deepEqual(reputation.standing('p'), { kind: 'good' })
  const standing = reputation.penalize('p', 'integrity', 'block x does not match its CID')
  assert.equal(standing.kind, 'banned')
  assert.deepEqual(banned, ['p'])
  await reputation.stop()
  assert.equal(store.records.length, 1)

  const restarted = setup(store.records)
  restarted.advance(PEER_BAN_MS - 1) // the same clock, just before the ban ends
  await restarted.reputation.start()
  assert.equal(restarted.reputation.isBanned('p'), true)
  assert.deepEqual(restarted.reputation.list().map(e => [e.peer, e.kind, e.reason]), [['p', 'banned', 'block x does not match its CID']])
  restarted.advance(2)
  assert.equal(restarted.reputation.isBanned('p'), false)
})

test('stalls and failures demote for PEER_DEMOTION_MS, doubling per remembered strike up to the maximum', async () => {
  const { reputation, advance, now } = setup()
  await reputation.start()
  let expected = PEER_DEMOTION_MS
  for (let strike = 1; strike <= 6; strike++) {
    const standing = reputation.penalize('p', strike % 2 === 0 ? 'failed' : 'stalled', `strike ${strike}`)
    assert.equal(standing.kind, 'demoted')
    assert.equal((standing as { until: number }).until - now(), Math.min(expected, PEER_DEMOTION_MAX_MS))
    expected *= 2
    advance(PEER_DEMOTION_MAX_MS + 1) // the demotion ends; the strike is remembered
    assert.equal(reputation.standing('p').kind, 'good')
  }
  // after a day without offences the strikes are forgotten: the next demotion is the first again
  advance(PEER_STRIKE_MEMORY_MS + 1)
  const fresh = reputation.penalize('p', 'stalled', 'again')
  assert.equal((fresh as { until: number }).until - now(), PEER_DEMOTION_MS)
})

test('a verified block from a peer no longer demoted forgives one strike; while demoted it forgives none', async () => {
  const { reputation, advance, now } = setup()
  await reputation.start()
  reputation.penalize('p', 'stalled', 'one')
  reputation.credit('p') // still demoted
  advance(PEER_DEMOTION_MS + 1)
  const second = reputation.penalize('p', 'stalled', 'two')
  assert.equal((second as { until: number }).until - now(), 2 * PEER_DEMOTION_MS)
  advance(2 * PEER_DEMOTION_MS + 1)
  reputation.credit('p')
  const third = reputation.penalize('p', 'stalled', 'three')
  assert.equal((third as { until: number }).until - now(), 2 * PEER_DEMOTION_MS)
})

test('at most PEER_REPUTATION_MAX_RECORDS peers are remembered, the oldest offences forgotten first', async () => {
  const { reputation, store, advance } = setup()
  await reputation.start()
  for (let i = 0; i < PEER_REPUTATION_MAX_RECORDS + 5; i++) {
    reputation.penalize(`p${i}`, 'integrity', 'bad')
    advance(1)
  }
  await reputation.stop()
  assert.equal(store.records.length, PEER_REPUTATION_MAX_RECORDS)
  assert.equal(reputation.isBanned('p0'), false)
  assert.equal(reputation.isBanned(`p${PEER_REPUTATION_MAX_RECORDS + 4}`), true)
  // many changes in a row are folded into few writes
  assert.ok(store.saves < 20, `${store.saves} writes`)
})
