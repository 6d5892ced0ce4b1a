/**
 * A real libp2p peer (a Node.js process, e2e/src/bad-peer-main.ts) reserves on the devnet relay,
 * announces itself as a provider of two published files and answers the block protocol badly:
 * it lies (bytes not matching the CID), truncates (half a block, then closes the stream) or
 * stalls (never answers). A viewer's reads complete with the right bytes from the origin; the
 * bad peer is rejected, and demoted or banned: the next read does not ask it.
 */
import { publishRandomFile } from '../src/devnet.ts'
import { startBadPeer } from '../src/bad-peer.ts'
import type { BadMode, BadPeer } from '../src/bad-peer.ts'
import { expect, test } from '../src/fixtures.ts'

/**
 * Size of each file read: 16 chunks.
 * @default 4 MiB
 */
const FILE_BYTES = 4 * 1024 * 1024

/**
 * Time peers get before the origin is asked: enough for the WebRTC dial to the bad peer, so it
 * is asked at all, even on a machine whose cores are all busy (the dial takes ~1 s idle).
 */
const HEDGE_DELAY_MS = 10_000

/** What the first read records about the bad peer, per mode. */
const firstReadReason: Record<BadMode, { where: 'droppedPeers' | 'demotedPeers', reason: RegExp, standing: 'banned' | 'demoted' }> = {
  lie: { where: 'droppedPeers', reason: /does not match its CID/, standing: 'banned' },
  truncate: { where: 'droppedPeers', reason: /./, standing: 'demoted' },
  stall: { where: 'demotedPeers', reason: /no answer for \d+ ms/, standing: 'demoted' }
}

for (const mode of ['lie', 'truncate', 'stall'] as const) {
  test(`a peer that ${mode}s on the block protocol is rejected and demoted; both reads complete from the origin`, async ({ devnet, launch }) => {
    const one = await publishRandomFile(devnet.dir, devnet.origin.dataDir, FILE_BYTES, 'one.bin')
    const two = await publishRandomFile(devnet.dir, devnet.origin.dataDir, FILE_BYTES, 'two.bin')
    let bad: BadPeer | undefined
    try {
      bad = await startBadPeer({ relay: devnet.relay.addr, mode, provide: [one.manifest, one.root, two.manifest, two.root] })
      const badId = bad.peerId
      const viewer = await launch('viewer', { hedgeDelayMs: HEDGE_DELAY_MS })
      await viewer.waitReachable()
      await viewer.waitFor(async () => {
        const listed = await Promise.all([one.manifest, two.manifest].map(async cid => (await (await fetch(`${devnet.relay.http}/routing/v1/providers/${cid}`)).text()).includes(badId)))
        return listed.every(Boolean)
      }, 60_000, 'the relay to list the bad peer as a provider of both files')

      // first read: the bad peer is asked, fails, and the origin delivers every byte
      const first = await viewer.fetchAll(one.link)
      expect(first.error).toBeUndefined()
      expect(first.sha256).toBe(one.sha256)
      expect(first.stats?.fromOrigin).toBeGreaterThanOrEqual(FILE_BYTES)
      expect(first.stats?.perPeer[badId] ?? 0).toBe(0)
      expect(bad.requests.length).toBeGreaterThan(0)
      const expected = firstReadReason[mode]
      // the stats say what the viewer saw instead, should the peer be rejected for something else
      expect(first.stats?.[expected.where][badId], JSON.stringify(first.stats)).toMatch(expected.reason)
      const status = await viewer.status()
      const distrusted = status.distrusted
      expect(distrusted).toEqual([expect.objectContaining({ peerId: badId, standing: expected.standing })])
      // PEERS lists Peerloom nodes only: never the relays, and the liar is hung up on
      const peerIds = status.peers.map(p => p.peerId)
      expect(peerIds).not.toContain(devnet.relay.peerId)
      expect(peerIds).not.toContain(devnet.origin.peerId)
      if (mode === 'lie') expect(peerIds).not.toContain(badId)

      // second read, of other content the bad peer also claims: it is not asked at all
      const asked = bad.requests.length
      const second = await viewer.fetchAll(two.link)
      expect(second.error).toBeUndefined()
      expect(second.sha256).toBe(two.sha256)
      expect(second.stats?.fromPeers).toBe(0)
      expect(bad.requests.length).toBe(asked)
      if (mode === 'lie') expect(second.stats?.droppedPeers[badId]).toMatch(/^banned until .*does not match its CID/)
      else expect(second.stats?.demotedPeers[badId]).toMatch(/^until /)
    } finally {
      await bad?.stop()
    }
  })
}
