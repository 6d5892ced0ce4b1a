/**
 * Token-gated call rooms with real Chromium profiles, the built extension, real relays and a
 * real anvil chain (docs/CALLS.md, Token-gated rooms): a room registered with `peerloom room
 * create` and an ERC-721 (DevnetPass) policy; the publisher's origin runs the key service,
 * re-checking holders every HOLDER_CHECK_MS. Two pass holders join from the demo site's call
 * page and see each other; a profile without a pass is refused (5011) and never appears in the
 * room; when one holder's pass goes to that profile, the key service re-keys the room, the old
 * holder's call ends `removed` (5011), the other stays, and the new holder joins under the new
 * key version and sees the one who stayed — which it can only do if that one is on it too.
 */
import { expect, test } from '../src/fixtures.ts'
import type { Page } from 'playwright-core'
import type { Profile } from '../src/profile.ts'
import { startSite } from '../src/page-api.ts'
import { CALL_WAIT_MS, joinFromPage, openCallPage, waitForFrames } from '../src/call-page.ts'
import { callStates, createRoom, keepConsole, probeConnections, rtcLog, keyVersionOnChain, mintPass, recordCallStates, startGatedChain, transferPass } from '../src/gated-room.ts'

/** The origin's `--holder-check-ms`: a lost pass is noticed within about this. */
const HOLDER_CHECK_MS = 500
/**
 * Frames each remote video must present for a participant to count as seen: the first third
 * of a second, short of the ~30 frames after which the mesh still drops participants.
 */
const FIRST_FRAMES = 10

async function addressOf (profile: Profile): Promise<{ peerId: string, address: string }> {
  const { peerId, address } = await profile.waitReachable()
  if (peerId === undefined || address === undefined) throw new Error(`${profile.name} has no peer id or address`)
  return { peerId, address }
}

const tileOf = (page: Page, peerId: string): ReturnType<Page['locator']> => page.locator(`#videos figure[data-peer-id="${peerId}"]`)

test('gated room: a profile without the pass is refused (5011); holders see each other; a holder whose pass is taken is removed, the other stays on the new key', async ({ devnet, launch }, testInfo) => {
  test.setTimeout(480_000)
  const gated = await startGatedChain(devnet, { holderCheckMs: HOLDER_CHECK_MS })
  const site = await startSite(devnet, [])
  const consoleLines: string[] = []
  const pages: Array<[string, Page]> = []
  try {
    const pass = gated.deployment.pass as string
    const created = await createRoom(gated, `erc721:${pass}`)
    expect(created.room).toMatch(/^0x[0-9a-f]{64}$/)
    expect(created.keyVersion).toBe(1)
    expect(created.registration.policy).toBe(`erc721:${pass}`)
    const room = created.room

    const settings = {
      relays: [devnet.relay.addr, gated.origin.addr],
      routers: [devnet.relay.http, gated.origin.http],
      gateways: [gated.origin.http],
      keyServices: [gated.origin.http],
      ...gated.settings
    }
    const launched = [await launch('p1', settings), await launch('p2', settings), await launch('p3', settings)]
    const found = await Promise.all(launched.map(async profile => ({ profile, ...await addressOf(profile) })))
    // A, who stays, has the lowest peer id, so it offers to each joiner: its offer can reach the
    // joiner's node before its hello does, which the node must hold for it (room-call.ts, early)
    found.sort((x, y) => x.peerId < y.peerId ? -1 : x.peerId > y.peerId ? 1 : 0)
    const [{ profile: a, ...idA }, { profile: b, ...idB }, { profile: c, ...idC }] = found as [typeof found[0], typeof found[0], typeof found[0]]
    for (const profile of [a, b, c]) await probeConnections(profile.context)
    consoleLines.push(`peer ids: a ${idA.peerId}, b ${idB.peerId}, c ${idC.peerId}`)
    await mintPass(gated, idA.address)
    const passOfB = await mintPass(gated, idB.address)

    // (b) the two holders join and see each other: presence, then the first frames
    const pageA = await openCallPage(a, site.url, { room, name: 'person-a', consent: true })
    const pageB = await openCallPage(b, site.url, { room, name: 'person-b', consent: true })
    keepConsole(pageA, 'a', consoleLines)
    keepConsole(pageB, 'b', consoleLines)
    pages.push(['a', pageA], ['b', pageB])
    await recordCallStates(pageA)
    await recordCallStates(pageB)
    await joinFromPage(pageA)
    await joinFromPage(pageB)
    for (const page of [pageA, pageB]) await expect(page.locator('#call-state')).toContainText('2 here', { timeout: CALL_WAIT_MS })
    await waitForFrames(a, pageA, [idB.peerId], FIRST_FRAMES)
    await waitForFrames(b, pageB, [idA.peerId], FIRST_FRAMES)

    // (a) no pass: the join fails with the key service's reason and code 5011, before the room
    // topic is joined; the holders never hear of it
    const pageC = await openCallPage(c, site.url, { room, name: 'person-c', consent: true })
    keepConsole(pageC, 'c', consoleLines)
    pages.push(['c', pageC])
    await recordCallStates(pageC)
    await pageC.click('#join')
    await expect(pageC.locator('#status')).toHaveText(`needs at least 1 DevnetPass (ERC-721 ${pass}); ${idC.address} holds 0 (code 5011)`, { timeout: CALL_WAIT_MS })
    await expect(pageC.locator('#call-state')).toHaveAttribute('data-state', 'idle')
    await expect(pageC.locator('#leave')).toBeHidden()
    await expect(pageC.locator('#videos figure')).toHaveCount(0)
    expect(await callStates(pageC)).toEqual([])
    for (const page of [pageA, pageB]) {
      await expect(tileOf(page, idC.peerId)).toHaveCount(0)
      await expect(page.locator('#call-state')).toContainText('2 here')
    }

    // (c) B's pass goes to C: the key service removes B and re-keys the room on chain
    await transferPass(gated, idB.address, idC.address, passOfB)
    const transferredAt = Date.now()
    await expect.poll(async () => await keyVersionOnChain(gated, room), { timeout: 60_000 }).toBe(2)
    // B's node asks for the new key, is refused, and ends the call as removed (5011)
    await expect.poll(async () => (await callStates(pageB)).find(s => s.state === 'removed'), { timeout: CALL_WAIT_MS }).toEqual({
      state: 'removed', code: 5011, reason: `needs at least 1 DevnetPass (ERC-721 ${pass}); ${idB.address} holds 0`
    })
    testInfo.annotations.push({ type: 'removed after', description: `${Date.now() - transferredAt} ms from the transfer to B's removed state` })
    await expect(pageB.locator('#call-state')).toHaveAttribute('data-state', 'idle')
    await expect(pageB.locator('#status')).toHaveText(`The call ended: needs at least 1 DevnetPass (ERC-721 ${pass}); ${idB.address} holds 0 (code 5011)`)
    // A stops hearing B (B cannot seal under the new key) and stays in the call
    await expect(tileOf(pageA, idB.peerId)).toHaveCount(0, { timeout: CALL_WAIT_MS })
    await expect(pageA.locator('#call-state')).toHaveAttribute('data-state', 'connected')
    await expect(pageA.locator('#call-state')).toContainText('1 here')

    // C, holding the pass now, joins under key version 2 (the only one the service grants); A
    // and C see each other, so A is on key version 2 too
    await joinFromPage(pageC)
    for (const page of [pageA, pageC]) await expect(page.locator('#call-state')).toContainText('2 here', { timeout: CALL_WAIT_MS })
    await waitForFrames(c, pageC, [idA.peerId], FIRST_FRAMES)
    await waitForFrames(a, pageA, [idC.peerId], FIRST_FRAMES)
    await expect(tileOf(pageC, idB.peerId)).toHaveCount(0)
    // A's call never ended; B's ended once, as removed; C's is on
    expect((await callStates(pageA)).filter(s => s.state === 'left' || s.state === 'removed')).toEqual([])
    expect((await callStates(pageB)).filter(s => s.state === 'left' || s.state === 'removed').map(s => s.state)).toEqual(['removed'])
    expect((await callStates(pageC)).at(-1)?.state).toBe('connected')
  } catch (err) {
    for (const [name, page] of pages) consoleLines.push(...(await rtcLog(page).catch(() => [])).map(line => `${name} ${line}`))
    await testInfo.attach('call pages\' console', { body: consoleLines.join('\n'), contentType: 'text/plain' })
    throw err
  } finally {
    await site.stop()
    await gated.stop()
  }
})
