/**
 * The forwarder engine in Chromium (docs/CALLS.md, Forwarders), before the node wires it:
 * participant pages with the fake camera send through the engine's passthrough to each other.
 */
import { expect, test } from '@playwright/test'
import { ErrorCode } from '@peerloom/shared'
import { ForwarderHarness } from '../src/forwarder-harness.ts'

const START_MS = 120_000

/** Waits until every participant in `peers` has decoded at least `frames` more frames from each other one than in `since`. */
async function expectDecoding (harness: ForwarderHarness, peers: string[], frames: number, since: Record<string, Record<string, number>> = {}): Promise<Record<string, Record<string, number>>> {
  const now: Record<string, Record<string, number>> = {}
  await expect.poll(async () => {
    for (const peer of peers) now[peer] = await harness.decoded(peer)
    return peers.flatMap(to => peers.filter(from => from !== to).map(from => `${from}→${to}: ${(now[to]?.[from] ?? 0) - (since[to]?.[from] ?? 0) >= frames ? 'ok' : 'waiting'}`))
  }, { timeout: START_MS, intervals: [500] }).toEqual(peers.flatMap(to => peers.filter(from => from !== to).map(from => `${from}→${to}: ok`)))
  return now
}

test.describe('forwarder engine', () => {
  let harness: ForwarderHarness | undefined

  test.afterEach(async () => {
    await harness?.close()
    harness = undefined
  })

  test('forwards each sender\'s frames unchanged to every other participant; one leaving does not disturb the rest', async () => {
    harness = await ForwarderHarness.start()
    const peers = ['alice', 'bob', 'carol']
    for (const peer of peers) expect((await harness.join(peer)).attach).toEqual({ ok: true })
    const before = await expectDecoding(harness, peers, 30)

    // each subscriber's `tracks` names the other two senders, one audio and one video mid each
    for (const peer of peers) {
      const mids = await harness.mids(peer)
      expect(Object.values(mids).sort()).toEqual(peers.filter(p => p !== peer).flatMap(p => [p, p]).sort())
    }

    // what the forwarder received, and what each subscriber received, are the sender's bytes
    for (const sender of peers) {
      const atForwarder = await harness.sampleAtForwarder(sender, 20)
      expect(atForwarder).toHaveLength(20)
      const sent = new Set((await harness.recorded(sender)).sent)
      expect(atForwarder.filter(d => !sent.has(d))).toEqual([])
      for (const subscriber of peers.filter(p => p !== sender)) {
        const recorded = await harness.recorded(subscriber)
        const mid = Object.entries(await harness.mids(subscriber))
          .find(([m, origin]) => origin === sender && (recorded.received[m]?.length ?? 0) > 0)?.[0]
        const received = recorded.received[mid as string] ?? []
        expect(received.length).toBeGreaterThan(0)
        const stillKnown = new Set((await harness.recorded(sender)).sent)
        expect(received.slice(-50).filter(d => !stillKnown.has(d))).toEqual([])
      }
    }

    const stats = await harness.stats()
    expect(stats.load).toBe(12) // 3 senders × 2 tracks × 2 subscribers
    for (const leg of stats.legs) {
      expect(leg.bytesSent).toBeGreaterThan(0)
      expect(leg.bytesReceived).toBeGreaterThan(0)
      expect(leg.framesDropped).toBe(0) // far below the harness's 64 MiB/s cap
    }

    await harness.leave('carol')
    await expect.poll(async () => (await harness!.stats()).load, { timeout: 30_000 }).toBe(4)
    await expectDecoding(harness, ['alice', 'bob'], 60, before)
    // the stopped transceivers are gone from the next offers' `tracks`
    for (const peer of ['alice', 'bob']) {
      await expect.poll(async () => Object.values(await harness!.mids(peer)).includes('carol'), { timeout: 30_000 }).toBe(false)
    }
  })

  test('encrypted frames pass as the senders\' ciphertext and still decode at the subscribers', async () => {
    harness = await ForwarderHarness.start()
    for (const peer of ['alice', 'bob']) expect((await harness.join(peer, { encrypt: true })).attach).toEqual({ ok: true })
    await expectDecoding(harness, ['alice', 'bob'], 30)
    for (const sender of ['alice', 'bob']) {
      const atForwarder = await harness.sampleAtForwarder(sender, 20)
      const { sent, plain } = await harness.recorded(sender)
      const cipher = new Set(sent)
      const clear = new Set(plain)
      expect(atForwarder).toHaveLength(20)
      expect(atForwarder.filter(d => !cipher.has(d))).toEqual([])
      expect(atForwarder.filter(d => clear.has(d))).toEqual([])
    }
  })

  test('a cascade joins two forwarders\' participants, frames unchanged across both hops', async () => {
    harness = await ForwarderHarness.start()
    await harness.addForwarder('f2')
    expect((await harness.join('alice')).attach).toEqual({ ok: true })
    expect((await harness.join('bob')).attach).toEqual({ ok: true })
    expect((await harness.join('carol', { forwarder: 'f2' })).attach).toEqual({ ok: true })
    await harness.cascade('f1', 'f2')
    const peers = ['alice', 'bob', 'carol']
    const before = await expectDecoding(harness, peers, 30)

    // carol's frames reach alice through f2 and f1 as carol's bytes, and alice's reach carol the same way
    for (const [sender, subscriber] of [['carol', 'alice'], ['alice', 'carol']] as const) {
      const recorded = await harness.recorded(subscriber)
      const mid = Object.entries(await harness.mids(subscriber)).find(([m, origin]) => origin === sender && (recorded.received[m]?.length ?? 0) > 0)?.[0]
      const received = recorded.received[mid as string] ?? []
      expect(received.length).toBeGreaterThan(0)
      const sent = new Set((await harness.recorded(sender)).sent)
      expect(received.slice(-50).filter(d => !sent.has(d))).toEqual([])
    }
    // each forwarder sends its own participants' streams over the cascade, never the other's back
    const [f1, f2] = [await harness.stats('f1'), await harness.stats('f2')]
    expect(f1.legs.find(leg => leg.kind === 'cascade')?.streams).toBe(4) // alice's and bob's audio and video
    expect(f2.legs.find(leg => leg.kind === 'cascade')?.streams).toBe(2) // carol's

    // carol leaves f2: alice and bob go on, and carol's mids leave their tracks
    await harness.leave('carol')
    await expectDecoding(harness, ['alice', 'bob'], 60, before)
    for (const peer of ['alice', 'bob']) {
      await expect.poll(async () => Object.values(await harness!.mids(peer)).includes('carol'), { timeout: 30_000 }).toBe(false)
    }
  })

  test('over the upload cap it drops whole frames up to key frames, and subscribers keep decoding', async () => {
    // 64 KiB/s (the lowest cap Options allows) for two 30 fps videos and their audio
    harness = await ForwarderHarness.start({ uploadRateBytesPerSec: 64 * 1024 })
    for (const peer of ['alice', 'bob']) expect((await harness.join(peer)).attach).toEqual({ ok: true })
    const before = await expectDecoding(harness, ['alice', 'bob'], 30)
    await expect.poll(async () => (await harness!.stats()).legs.every(leg => leg.framesDropped > 0), { timeout: START_MS }).toBe(true)
    await expectDecoding(harness, ['alice', 'bob'], 30, before)
    // and the senders were asked to fit the cap: half of 64 KiB/s each, in kbit/s
    for (const leg of (await harness.stats()).legs) expect(leg.upstreamKbps).toBeLessThanOrEqual(64 * 1024 * 8 / 1000 / 2)
  })

  test('refuses an attach beyond maxStreams with 5021 and keeps the legs it has', async () => {
    // alice and bob: 2 tracks each way = 4 streams; carol would add 8
    harness = await ForwarderHarness.start({ maxStreams: 4 })
    expect((await harness.join('alice')).attach).toEqual({ ok: true })
    expect((await harness.join('bob')).attach).toEqual({ ok: true })
    const refused = await harness.join('carol')
    expect(refused.attach).toMatchObject({ ok: false, code: ErrorCode.CALL_LIMIT })
    await expectDecoding(harness, ['alice', 'bob'], 30)
    expect((await harness.stats()).legs.map(leg => leg.peerId).sort()).toEqual(['alice', 'bob'])
  })
})
