/**
 * A forwarded call with real Chromium profiles, the built extension and real relays
 * (docs/CALLS.md, Forwarders): MESH_MAX_PARTICIPANTS + 1 participants on the demo site's call page and a donor
 * profile with the media role on. The room is one above MESH_MAX_PARTICIPANTS, so every node
 * attaches to the donor's forwarder: every page shows topology 'forwarded' and presents the
 * others' frames; the frames the forwarder holds are ciphertext (each opens under its
 * sender's media key, which the forwarder never has). Then the donor's browser is killed: the
 * pages get media again (mesh: no other forwarder) and no call ever goes to 'left'.
 */
import { expect, test } from '../src/fixtures.ts'
import type { Page } from 'playwright-core'
import { frameKeyId, importMediaKey, openFrame } from '@peerloom/shared/calls/frame'
import type { Profile } from '../src/profile.ts'
import { startSite } from '../src/page-api.ts'
import { MESH_MAX_PARTICIPANTS } from '../../extension/src/calls/constants.ts'
import { CALL_WAIT_MS, joinFromPage, openCallPage, remoteFrames, waitForFrames } from '../src/call-page.ts'

const FRAMES = 30
const PARTICIPANTS = MESH_MAX_PARTICIPANTS + 1

/**
 * Five or more profiles on two shared cores: the fake camera at 10 fps instead of 30 and 240
 * lines instead of 480, so the encoders of the mesh before the room goes forwarded leave the
 * nodes the CPU they need to answer their relays and keep presence.
 */
test.use({ chromiumFlags: ['--use-fake-device-for-media-stream=fps=10'] })
const HEIGHT = 240

async function peerIdOf (profile: Profile): Promise<string> {
  const { peerId } = await profile.waitReachable(120_000)
  if (peerId === undefined) throw new Error(`${profile.name} has no peer id`)
  return peerId
}

/**
 * Before the page's scripts: keeps a copy of every media key the page hands its E2EE worker
 * (`own-key`), so the test can open the frames the forwarder holds; and records every call
 * state the page shows.
 */
async function watchPages (profile: Profile): Promise<void> {
  await profile.context.addInitScript(() => {
    const w = window as unknown as { __ownKeys: Array<{ keyId: number, key: number[] }>, __states: string[], __pcs: RTCPeerConnection[] }
    w.__ownKeys = []
    w.__states = []
    w.__pcs = []
    const Native = RTCPeerConnection
    window.RTCPeerConnection = class extends Native {
      constructor (...args: ConstructorParameters<typeof RTCPeerConnection>) {
        super(...args)
        w.__pcs.push(this)
      }
    }
    const post = Worker.prototype.postMessage
    Worker.prototype.postMessage = function (this: Worker, message: unknown, ...rest: unknown[]) {
      const m = message as { type?: string, keyId?: number, key?: ArrayBuffer }
      if (m?.type === 'own-key' && m.key instanceof ArrayBuffer) w.__ownKeys.push({ keyId: m.keyId!, key: [...new Uint8Array(m.key)] })
      return (post as (...args: unknown[]) => void).call(this, message, ...rest)
    } as typeof Worker.prototype.postMessage
    new MutationObserver(() => {
      const state = document.getElementById('call-state')?.dataset.state
      if (state !== undefined && w.__states.at(-1) !== state) w.__states.push(state)
    }).observe(document, { subtree: true, attributes: true, attributeFilter: ['data-state'] })
  })
}

/** Every open connection of the page and what its video receivers got: the failure report of a frame wait. */
async function mediaReport (page: Page): Promise<unknown> {
  return await page.evaluate(async () => {
    const pcs = (window as unknown as { __pcs: RTCPeerConnection[] }).__pcs.filter(pc => pc.connectionState !== 'closed')
    return await Promise.all(pcs.map(async pc => {
      const inbound: unknown[] = []
      ;(await pc.getStats()).forEach((entry: Record<string, unknown>) => {
        if (entry.type === 'inbound-rtp' && entry.kind === 'video') inbound.push({ mid: entry.mid, received: entry.framesReceived, decoded: entry.framesDecoded, keys: entry.keyFramesDecoded, dropped: entry.framesDropped, plis: entry.pliCount, bytes: entry.bytesReceived })
      })
      return { state: pc.connectionState, inbound }
    }))
  })
}

test('a room above the mesh limit through a donor\'s forwarder: ciphertext at the forwarder; it goes away and the call goes on', async ({ devnet, launch }) => {
  test.setTimeout(15 * 60_000)
  const site = await startSite(devnet, [])
  const room = 'forwarded'
  try {
    const donor = await launch('donor', { media: { forward: true, maxStreams: 64, uploadRateBytesPerSec: 16 * 1024 * 1024 } })
    const donorId = await peerIdOf(donor)
    const profiles: Profile[] = []
    for (let i = 0; i < PARTICIPANTS; i++) profiles.push(await launch(`p${i}`))
    const ids = await Promise.all(profiles.map(peerIdOf))
    const pages: Page[] = []
    for (const profile of profiles) {
      await watchPages(profile)
      pages.push(await openCallPage(profile, site.url, { room, name: `person-${profile.name}`, consent: true, height: HEIGHT }))
    }
    for (const page of pages) await joinFromPage(page)
    const others = (i: number): string[] => ids.filter((_, j) => j !== i)

    try {
      for (const page of pages) await expect(page.locator('#call-state')).toContainText(`${PARTICIPANTS} here`, { timeout: 2 * CALL_WAIT_MS })
      for (const page of pages) await expect(page.locator('#topology')).toHaveAttribute('data-topology', 'forwarded', { timeout: CALL_WAIT_MS })
    } catch (err) {
      // what each side saw: the pages' states, the forwarder's legs, each node's forwarders and last attach error
      console.log('pages:', await Promise.all(pages.map(async page => `${await page.locator('#call-state').textContent()} / ${await page.locator('#topology').getAttribute('data-topology')}`)))
      console.log('forwarder:', JSON.stringify(await donor.call('forwarderStats').catch((e: unknown) => String(e))))
      for (const profile of profiles) console.log(profile.name, JSON.stringify(await profile.call('forwarderClient').catch((e: unknown) => String(e))))
      throw err
    }
    // counted from here: the frames before came over the mesh
    const atForwarded = await Promise.all(pages.map(remoteFrames))
    /** Waits for FRAMES more from every other participant on every page; on failure, logs what the forwarder and each page's receivers got. */
    const framesFromAll = async (since: Array<Record<string, number>>): Promise<Array<Record<string, number>>> =>
      await Promise.all(profiles.map(async (profile, i) => await waitForFrames(profile, pages[i]!, others(i), FRAMES, since[i])))
        .catch(async (err: unknown) => {
          console.log('forwarder:', JSON.stringify(await donor.call('forwarderStats').catch((e: unknown) => String(e))))
          for (const [i, page] of pages.entries()) console.log(profiles[i]!.name, ids[i], JSON.stringify(await mediaReport(page).catch((e: unknown) => String(e))))
          throw err
        })
    const first = await framesFromAll(atForwarded)
    // media comes through the forwarder: each participant's leg there forwards the others' audio and video
    const stats = await donor.call<{ load: number, legs: Array<{ roomId: string, peerId: string, kind: string, streams: number, bytesSent: number }> }>('forwarderStats')
    expect(stats.legs.filter(leg => leg.kind === 'participant').map(leg => leg.peerId).sort()).toEqual([...ids].sort())
    for (const leg of stats.legs) expect(leg.streams).toBe(2 * (PARTICIPANTS - 1))
    await framesFromAll(first)

    // the forwarder holds only the senders' ciphertext: every sampled frame opens under its sender's own media key
    const roomId = stats.legs[0]!.roomId
    for (let i = 0; i < 2; i++) {
      const frames = await donor.call<Array<{ data: string, type?: string }>>('forwarderSample', { roomId, peerId: ids[i], kind: 'video', count: 10 })
      expect(frames).toHaveLength(10)
      const keys = await pages[i]!.evaluate(() => (window as unknown as { __ownKeys: Array<{ keyId: number, key: number[] }> }).__ownKeys)
      expect(keys.length).toBeGreaterThan(0)
      for (const frame of frames) {
        const bytes = new Uint8Array(Buffer.from(frame.data, 'base64'))
        const keyId = frameKeyId(bytes)
        const raw = keys.find(k => k.keyId === keyId)
        expect(raw, `frame key id ${keyId} is one of ${ids[i]}'s keys`).toBeDefined()
        const plain = await openFrame(await importMediaKey(new Uint8Array(raw!.key)), bytes, frame.type === 'key' ? 'key' : 'delta')
        expect(plain.length).toBeLessThan(bytes.length)
      }
    }

    // the donor's browser crashes: no goodbye on any of its connections
    const atKill = await Promise.all(pages.map(remoteFrames))
    await donor.kill()
    for (const page of pages) await expect(page.locator('#topology')).toHaveAttribute('data-topology', 'mesh', { timeout: CALL_WAIT_MS })
    await framesFromAll(atKill)
    for (const page of pages) {
      const states = await page.evaluate(() => (window as unknown as { __states: string[] }).__states)
      expect(states).not.toContain('left')
      await expect(page.locator('#call-state')).toHaveAttribute('data-state', 'connected')
    }
    expect(ids).not.toContain(donorId)
  } finally {
    await site.stop()
  }
})
