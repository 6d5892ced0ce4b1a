/**
 * The call methods of the page API over real MessagePorts, the way a page drives them, each
 * page on its own node (two real libp2p nodes with gossipsub on loopback): consent, params,
 * events after the join's answer and with its id, the per-page limit, calls only reachable
 * from their page, and a closed port leaving its calls.
 */
import './polyfills.ts'
import 'fake-indexeddb/auto'
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import type { Libp2p } from '@libp2p/interface'
import type { CallEvent, CallJoinResult } from '@peerloom/shared/calls/api'
import { loopbackNode, stopLoopbackNodes } from './calls-fixtures.ts'
import { CallService } from '../src/calls/call-service.ts'
import { openCallsDb } from '../src/calls/calls-db.ts'
import { MAX_CALLS_PER_PAGE } from '../src/calls/constants.ts'
import { PageApiHost } from '../src/page-api/node/host.ts'
import { openPageApiDb } from '../src/page-api/node/page-db.ts'
import { OriginRateLimit } from '../src/page-api/node/rate-limit.ts'
import type { NodeMessage } from '../src/page-api/wire.ts'

const SITE = 'https://meet.example'
const MEDIA = { audio: true, video: false, screen: false }

async function hostFor (node: Libp2p, allowed = true): Promise<PageApiHost> {
  const calls = new CallService({ db: await openCallsDb(`calls-host-${process.pid}-${Math.random()}`), iceServers: () => [] })
  await calls.attach(node)
  const host = new PageApiHost({
    node: { openContent: async () => { throw new Error('unused') }, publish: async () => { throw new Error('unused') }, peerId: () => node.peerId.toString() },
    db: await openPageApiDb(`calls-host-page-${process.pid}-${Math.random()}`),
    askUser: async () => allowed ? 'allowed' : 'denied',
    playerUrl: () => 'unused',
    rateLimit: new OriginRateLimit({ perSecond: 1000, burst: 1000 }),
    calls
  })
  return host
}

async function waitFor<T> (what: string, probe: () => T | undefined | false, deadlineMs = 60_000): Promise<T> {
  const until = Date.now() + deadlineMs
  for (;;) {
    const value = probe()
    if (value !== undefined && value !== false) return value
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`)
    await new Promise(resolve => setTimeout(resolve, 50))
  }
}

/** A page's end of a port: requests, and every message in arrival order. */
function page (host: PageApiHost) {
  const channel = new MessageChannel()
  const messages: NodeMessage[] = []
  let next = 1
  channel.port2.onmessage = event => { messages.push(event.data as NodeMessage) }
  host.accept(channel.port1, SITE)
  const call = async (method: string, params?: unknown): Promise<Extract<NodeMessage, { t: 'result' | 'error' }>> => {
    const id = next++
    channel.port2.postMessage({ t: 'req', id, method, params })
    return await waitFor(`the answer to ${method}`, () => messages.find((m): m is Extract<NodeMessage, { t: 'result' | 'error' }> => (m.t === 'result' || m.t === 'error') && m.id === id))
  }
  const events = (id: number | null): CallEvent[] => messages.filter((m): m is Extract<NodeMessage, { t: 'event' }> => m.t === 'event' && m.id === id).map(m => m.event)
  const result = <T>(m: Extract<NodeMessage, { t: 'result' | 'error' }>): T => {
    if (m.t !== 'result') throw new Error(`expected a result, got ${JSON.stringify(m)}`)
    return m.result as T
  }
  return { call, events, result, messages, close: () => { channel.port2.close() } }
}

function errorCode (m: NodeMessage): number | undefined {
  return m.t === 'error' ? m.error.code : undefined
}

let hostA: PageApiHost, hostB: PageApiHost

before(async () => {
  const [a, b] = [await loopbackNode(), await loopbackNode()]
  await a.dial(b.getMultiaddrs())
  hostA = await hostFor(a)
  hostB = await hostFor(b)
}, { timeout: 120_000 })

after(async () => {
  await stopLoopbackNodes()
})

test('calls need consent and well-formed params', { timeout: 120_000 }, async () => {
  const p = page(hostA)
  assert.equal(errorCode(await p.call('peerloom_callJoin', { room: 'r', name: 'Ada', media: MEDIA })), 4100)
  await p.call('peerloom_connect', {})
  assert.equal(errorCode(await p.call('peerloom_callJoin', { room: 'r', name: 'Ada' })), 5000)
  assert.equal(errorCode(await p.call('peerloom_callJoin', { room: 'bad room', name: 'Ada', media: MEDIA })), 5000)
  assert.equal(errorCode(await p.call('peerloom_callJoin', { room: 'r', name: 'x'.repeat(65), media: MEDIA })), 5000)
  assert.equal(errorCode(await p.call('peerloom_callSignal', { callId: '0123456789abcdef', to: 'nobody', sid: '0123456789abcdef', data: { candidate: null } })), 5000)
  assert.equal(errorCode(await p.call('peerloom_callLeave', { callId: '0123456789abcdef' })), 5020)
  assert.equal(errorCode(await p.call('peerloom_callSeal', { callId: '0123456789abcdef', text: 'hi' })), 5020)
  p.close()
})

test('two pages on two nodes: events follow the join answer under its id; signalling and chat; a closed port leaves', { timeout: 120_000 }, async () => {
  const pa = page(hostA)
  const pb = page(hostB)
  await pa.call('peerloom_connect', {})
  await pb.call('peerloom_connect', {})
  const joinA = await pa.call('peerloom_callJoin', { room: 'team', name: 'Ada', media: MEDIA })
  const a = pa.result<CallJoinResult>(joinA)
  const joinB = await pb.call('peerloom_callJoin', { room: 'team', name: 'Bob', media: MEDIA })
  const b = pb.result<CallJoinResult>(joinB)
  assert.equal(a.roomId, b.roomId)
  assert.ok(a.ownKey.key instanceof ArrayBuffer && a.ownKey.key.byteLength === 32)
  await waitFor('each page to be told of the other', () => pa.events(joinA.id).some(e => e.type === 'joined' && e.participant.peerId === b.self.peerId) &&
    pb.events(joinB.id).some(e => e.type === 'joined' && e.participant.peerId === a.self.peerId))
  // nothing of a call reaches its page before the join's answer
  for (const p of [pa, pb]) {
    const answer = p.messages.findIndex(m => m.t === 'result' && 'result' in m && (m.result as { callId?: string }).callId !== undefined)
    const first = p.messages.findIndex(m => m.t === 'event')
    assert.ok(answer >= 0 && first > answer)
  }
  await waitFor('B\'s page to get A\'s media key', () => pb.events(joinB.id).some(e => e.type === 'media-key' && e.peerId === a.self.peerId && Buffer.from(e.key.key).equals(Buffer.from(a.ownKey.key))))

  const signal = { sdp: { type: 'offer', sdp: 'v=0\r\n' } }
  assert.equal(pa.result(await pa.call('peerloom_callSignal', { callId: a.callId, to: b.self.peerId, sid: 'aaaaaaaaaaaaaaaa', data: signal })), null)
  await waitFor('B\'s page to get the offer', () => pb.events(joinB.id).some(e => e.type === 'signal' && e.from === a.self.peerId && e.sid === 'aaaaaaaaaaaaaaaa'))

  const sealed = pa.result<{ sealed: string, message: { text: string, own: boolean } }>(await pa.call('peerloom_callSeal', { callId: a.callId, text: 'hi' }))
  assert.equal(sealed.message.own, true)
  const opened = pb.result<{ text: string, own: boolean, from: string }>(await pb.call('peerloom_callOpen', { callId: b.callId, from: a.self.peerId, sealed: sealed.sealed }))
  assert.deepEqual([opened.text, opened.own, opened.from], ['hi', false, a.self.peerId])
  assert.equal(errorCode(await pb.call('peerloom_callOpen', { callId: b.callId, from: b.self.peerId, sealed: sealed.sealed })), 5000)
  assert.equal(pb.result(await pb.call('peerloom_callMedia', { callId: b.callId, media: { audio: false, video: false, screen: false } })), null)
  assert.equal(pb.result(await pb.call('peerloom_callStats', { callId: b.callId, forwarderBytes: {} })), null)

  // a call is reachable only from the page that joined it
  const other = page(hostA)
  await other.call('peerloom_connect', {})
  assert.equal(errorCode(await other.call('peerloom_callLeave', { callId: a.callId })), 5020)
  other.close()

  // A's page goes away: its call is left, and B is told
  pa.close()
  await waitFor('B to see A leave', () => pb.events(joinB.id).some(e => e.type === 'left' && e.peerId === a.self.peerId && e.reason === 'bye'))
  assert.deepEqual(pb.result(await pb.call('peerloom_callLeave', { callId: b.callId })), null)
  assert.ok(pb.events(joinB.id).some(e => e.type === 'state' && e.state === 'left'))
  assert.equal(errorCode(await pb.call('peerloom_callSeal', { callId: b.callId, text: 'gone' })), 5020)
  pb.close()
})

test(`a page may hold at most ${MAX_CALLS_PER_PAGE} calls (5021)`, { timeout: 120_000 }, async () => {
  const p = page(hostA)
  await p.call('peerloom_connect', {})
  const ids: string[] = []
  for (let i = 0; i < MAX_CALLS_PER_PAGE; i++) ids.push(p.result<CallJoinResult>(await p.call('peerloom_callJoin', { room: `limit-${i}`, name: 'Ada', media: MEDIA })).callId)
  assert.equal(errorCode(await p.call('peerloom_callJoin', { room: 'limit-x', name: 'Ada', media: MEDIA })), 5021)
  await p.call('peerloom_callLeave', { callId: ids[0] })
  assert.equal((await p.call('peerloom_callJoin', { room: 'limit-x', name: 'Ada', media: MEDIA })).t, 'result')
  p.close()
  await waitFor('the closed page\'s calls to end', () => hostA.calls?.calls().length === 0)
})
