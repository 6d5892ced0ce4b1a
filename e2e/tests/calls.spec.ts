/**
 * Calls with real Chromium profiles, the built extension and real relays (docs/CALLS.md): the
 * demo site's call page in each profile, joined as a person would (consent, Join). Frames are
 * counted where they are presented (requestVideoFrameCallback on each remote video), so a pass
 * means every frame was sealed by its sender's worker and opened by the receiver's, and decoded;
 * and each remote video's picture is drawn to a canvas and must not be black or flat (the fake
 * camera's moving pattern), so frames that decode to nothing cannot pass as a call.
 */
import { expect, test } from '../src/fixtures.ts'
import type { Page } from 'playwright-core'
import type { Profile } from '../src/profile.ts'
import { startSite } from '../src/page-api.ts'
import { CALL_WAIT_MS, chatTexts, joinFromPage, openCallPage, remoteFrames, sendChat, waitForChat, waitForFrames, waitForPictures } from '../src/call-page.ts'

/** Frames each remote video must present for a participant to count as seen (1 s at 30 fps). */
const FRAMES = 30

async function peerIdOf (profile: Profile): Promise<string> {
  const { peerId } = await profile.waitReachable()
  if (peerId === undefined) throw new Error(`${profile.name} has no peer id`)
  return peerId
}

test('three profiles in one room: each decodes the two others, chat reaches both, history is back after a restart', async ({ devnet, launch }) => {
  const site = await startSite(devnet, [])
  const room = 'standup'
  try {
    const profiles = [await launch('a'), await launch('b'), await launch('c')]
    const [a, b, c] = profiles as [Profile, Profile, Profile]
    const ids = await Promise.all(profiles.map(peerIdOf))
    const pages: Page[] = []
    for (const profile of profiles) {
      const page = await openCallPage(profile, site.url, { room, name: `person-${profile.name}`, consent: true })
      await joinFromPage(page)
      pages.push(page)
    }
    const [pageA, pageB, pageC] = pages as [Page, Page, Page]
    const others = (i: number): string[] => ids.filter((_, j) => j !== i)

    // everyone hears the others' presence through the relays...
    for (const page of pages) await expect(page.locator('#call-state')).toContainText('3 here', { timeout: CALL_WAIT_MS })
    // ...and presents frames of the two others, and keeps presenting them
    const first = await Promise.all(profiles.map(async (profile, i) => await waitForFrames(profile, pages[i]!, others(i), FRAMES)))
    await Promise.all(profiles.map(async (profile, i) => await waitForFrames(profile, pages[i]!, others(i), FRAMES, first[i])))
    // ...and what they present is the others' camera, not black frames
    for (const [i, profile] of profiles.entries()) await waitForPictures(profile, pages[i]!, others(i))
    await expect(pageA.locator('#topology')).toHaveAttribute('data-topology', 'mesh')

    // chat: each message reaches both others; the sender sees its own as its own
    await sendChat(pageA, 'hello from a')
    await sendChat(pageB, 'hello from b')
    await waitForChat(b, pageB, ['hello from a'])
    await waitForChat(c, pageC, ['hello from a', 'hello from b'])
    await waitForChat(a, pageA, ['hello from b'])
    await expect(pageA.locator('#chat-log li.own .text')).toHaveText(['hello from a'])
    await expect(pageC.locator('#chat-log li.own')).toHaveCount(0)
    await expect(pageC.locator(`#chat-log li[data-from="${ids[0]}"] .text`)).toHaveText('hello from a')

    // a's browser goes away without a goodbye: the others see it leave
    await a.close()
    for (const page of [pageB, pageC]) await expect(page.locator(`#videos figure[data-peer-id="${ids[0]}"]`)).toHaveCount(0, { timeout: 60_000 })
    // it comes back: the site is still allowed, the chat history is shown again, and it is seen again
    await a.open()
    const again = await openCallPage(a, site.url, { room, name: 'person-a', consent: false })
    await joinFromPage(again)
    const history = await chatTexts(again)
    expect(history.slice(0, 2)).toEqual(['hello from a', 'hello from b'])
    await expect(again.locator('#chat-log li.own .text')).toHaveText(['hello from a'])
    await waitForFrames(a, again, others(0), FRAMES)
    await waitForFrames(b, pageB, [ids[0]!], FRAMES)
    await waitForFrames(c, pageC, [ids[0]!], FRAMES)
    await waitForPictures(a, again, others(0))
    await waitForPictures(b, pageB, [ids[0]!])
    // and chat still reaches it
    await sendChat(pageC, 'welcome back')
    await waitForChat(a, again, ['welcome back'])
  } finally {
    await site.stop()
  }
})

test('a relay killed mid-call: frames keep coming, and a new joiner still finds the room through the other relay', async ({ devnet, launch }) => {
  const site = await startSite(devnet, [])
  const room = 'resilient'
  try {
    const a = await launch('a')
    const b = await launch('b')
    const [idA, idB] = await Promise.all([peerIdOf(a), peerIdOf(b)])
    // both relays hold a reservation of each, so either can carry the room's gossip
    for (const profile of [a, b]) await profile.waitFor(async () => (await profile.status()).relays.filter(r => r.connected).length === 2, 60_000, 'both relays connected')
    const pageA = await openCallPage(a, site.url, { room, name: 'person-a', consent: true })
    await joinFromPage(pageA)
    const pageB = await openCallPage(b, site.url, { room, name: 'person-b', consent: true })
    await joinFromPage(pageB)
    await waitForFrames(a, pageA, [idB], FRAMES)
    await waitForFrames(b, pageB, [idA], FRAMES)

    await devnet.relay.kill()
    expect(devnet.relay.exited).toBe(true)
    // media goes page to page, so the call does not notice; presence goes on through the origin relay
    const atKill = [await remoteFrames(pageA), await remoteFrames(pageB)]
    await waitForFrames(a, pageA, [idB], 3 * FRAMES, atKill[0])
    await waitForFrames(b, pageB, [idA], 3 * FRAMES, atKill[1])
    await expect(pageA.locator(`#videos figure[data-peer-id="${idB}"]`)).toHaveCount(1)

    // a newcomer whose first relay is dead finds the room through the other one
    const c = await launch('c')
    const idC = await peerIdOf(c)
    const pageC = await openCallPage(c, site.url, { room, name: 'person-c', consent: true })
    await joinFromPage(pageC)
    await waitForFrames(c, pageC, [idA, idB], FRAMES)
    await waitForPictures(c, pageC, [idA, idB])
    await waitForFrames(a, pageA, [idC], FRAMES)
    await waitForFrames(b, pageB, [idC], FRAMES)
    await sendChat(pageC, 'found you')
    await waitForChat(a, pageA, ['found you'])
    await waitForChat(b, pageB, ['found you'])
  } finally {
    await site.stop()
  }
})
