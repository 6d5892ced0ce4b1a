/**
 * The node's events on their way to the pages: the feed in the node document (snapshot, then
 * what changed after a cursor, waiting for it), the service worker's relay to a page's port,
 * and the page's view of them.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { TypedEventEmitter } from 'main-event'
import { ErrorCode, nodeSettingsSchema } from '@peerloom/shared'
import type { NodeSettings } from '@peerloom/shared'
import { NodeEventFeed, handleNodeRequest } from '../src/node/rpc.ts'
import type { NodeEventBatch, NodeEventPortMessage, NodeRpcComponents } from '../src/node/rpc.ts'
import type { NodeEarnings, NodeEvents, NodeStatus } from '../src/node/node.ts'
import { relayNodeEvents } from '../src/node/node-document.ts'
import { applyBatch } from '../src/ui/use-node-events.ts'

/** A node with the events and state a feed reads, and nothing else. */
class FakeNode extends TypedEventEmitter<NodeEvents> {
  statusValue: NodeStatus = {
    state: 'running',
    multiaddrs: [],
    relays: [],
    peers: [],
    distrusted: [],
    cache: { usedBytes: 0, capBytes: 16, blocks: 0 },
    donate: false,
    served: { bytes: 0, clients: 0, activePeers: 0 },
    received: { fromPeers: 0, fromOrigin: 0 },
    errors: [{ at: 1, code: ErrorCode.DISCONNECTED, message: 'relay down' }]
  }

  settingsValue: NodeSettings = nodeSettingsSchema.parse({})
  earningsValue: NodeEarnings = { pending: { bytes: '0', receipts: 0 }, submitted: [], paid: [], totalPaid: '0', epoch: '100' } as unknown as NodeEarnings
  status (): NodeStatus { return this.statusValue }
  settings (): NodeSettings { return this.settingsValue }
  historySeries (buckets = 60): { t: number[], served: number[], received: number[], bucketMs: number } {
    return { t: Array<number>(buckets).fill(0), served: Array<number>(buckets).fill(0), received: Array<number>(buckets).fill(0), bucketMs: 10_000 }
  }

  async earnings (): Promise<NodeEarnings> { return this.earningsValue }
  emit<K extends keyof NodeEvents> (type: K, detail: NodeEvents[K]['detail']): void {
    this.safeDispatchEvent(type, { detail })
  }
}

test('a new reader gets a snapshot of everything, then only what changed after its cursor', async () => {
  const node = new FakeNode()
  const feed = new NodeEventFeed(node as never)
  const first = await feed.next(undefined, 0)
  assert.equal(first.snapshot, true)
  assert.deepEqual(first.events.map(e => e.type), ['status', 'settings', 'history', 'earnings', 'error'])
  assert.equal(first.events.find(e => e.type === 'history')?.detail.t.length, 60)

  node.emit('status', { ...node.statusValue, donate: true })
  node.emit('status', { ...node.statusValue, donate: false, state: 'stopped' })
  node.emit('error', { at: 2, code: ErrorCode.QUOTA_EXCEEDED, message: 'disk full' })
  const next = await feed.next(first, 0)
  assert.equal(next.snapshot, false)
  // a reader that was behind gets the newest status only, and every error
  assert.deepEqual(next.events.map(e => e.type), ['status', 'error'])
  assert.equal(next.events[0]?.type === 'status' && next.events[0].detail.state, 'stopped')
  assert.deepEqual(await feed.next(next, 0), { ...next, events: [] })
})

test('a reader waits for the next event, and a cursor of another feed gets a snapshot', async () => {
  const node = new FakeNode()
  const feed = new NodeEventFeed(node as never)
  const first = await feed.next(undefined, 0)
  const waiting = feed.next(first, 30_000)
  let answered = false
  void waiting.then(() => { answered = true })
  await new Promise(resolve => setImmediate(resolve))
  assert.equal(answered, false, 'nothing happened yet')
  node.emit('settings', { ...node.settingsValue, donate: true })
  const woken = await waiting
  assert.deepEqual(woken.events, [{ type: 'settings', detail: { ...node.settingsValue, donate: true } }])
  // with nothing new, the wait ends empty after waitMs (the caller asks again)
  assert.deepEqual((await feed.next(woken, 1)).events, [])
  // the node document started again: its feed is new, and old cursors start over
  const again = await new NodeEventFeed(node as never).next(woken, 30_000)
  assert.equal(again.snapshot, true)
})

test('the events method checks its parameters', async () => {
  const rpc = { node: new FakeNode(), transfers: {}, sites: {} } as unknown as NodeRpcComponents
  const bad = await handleNodeRequest(rpc, { method: 'events', params: { waitMs: 3_600_000 } })
  assert.equal(!bad.ok && bad.error.code, ErrorCode.INVALID_PARAMS)
  const ok = await handleNodeRequest(rpc, { method: 'events' })
  assert.equal(ok.ok && (ok.result as NodeEventBatch).snapshot, true)
})

/** A page's port as the service worker holds it, and the page's end of it. */
function fakePort (): { port: chrome.runtime.Port, received: NodeEventPortMessage[], close: () => void } {
  const received: NodeEventPortMessage[] = []
  const onDisconnect: Array<() => void> = []
  const port = {
    name: 'peerloom:node-events',
    postMessage: (message: NodeEventPortMessage) => { received.push(structuredClone(message)) },
    onDisconnect: { addListener: (listener: () => void) => { onDisconnect.push(listener) } }
  } as unknown as chrome.runtime.Port
  return { port, received, close: () => { for (const listener of onDisconnect) listener() } }
}

/** Polls `condition` until it holds (generous deadline: the machine may be busy). */
async function until (condition: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 60_000
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise(resolve => setTimeout(resolve, 10))
  }
}

test('the service worker relays the node\'s events to a page\'s port until it closes', async () => {
  const node = new FakeNode()
  const rpc = { node, transfers: {}, sites: {} } as unknown as NodeRpcComponents
  const requests: unknown[] = []
  const previous = (globalThis as { chrome?: unknown }).chrome
  // the worker's chrome.*: the node document is there, and messages to it reach the RPC
  ;(globalThis as { chrome?: unknown }).chrome = {
    runtime: {
      getURL: (path: string) => `chrome-extension://x${path}`,
      ContextType: { OFFSCREEN_DOCUMENT: 'OFFSCREEN_DOCUMENT' },
      getContexts: async () => [{}],
      sendMessage: async (message: { method: string, params: unknown }) => {
        requests.push(message.params)
        return await handleNodeRequest(rpc, message)
      }
    }
  }
  try {
    const { port, received, close } = fakePort()
    const relaying = relayNodeEvents(port)
    // answers with no events also go out (the page's sign that the worker relays): skip them
    const batches = (): NodeEventBatch[] => received.filter((m): m is NodeEventBatch => 'events' in m && m.events.length > 0)
    await until(() => batches().length === 1, 'the snapshot')
    const snapshot = batches()[0] as NodeEventBatch
    assert.equal(snapshot.snapshot, true)
    node.emit('earnings', { ...node.earningsValue, totalPaid: '5' })
    await until(() => batches().length === 2, 'the earnings event')
    assert.deepEqual(batches()[1], { feed: snapshot.feed, seq: snapshot.seq + 1, snapshot: false, events: [{ type: 'earnings', detail: { ...node.earningsValue, totalPaid: '5' } }] })

    // the page's view follows: a snapshot replaces it, an event updates it
    const view = applyBatch(applyBatch({ errors: [], problem: 'was unreachable' }, snapshot), batches()[1] as NodeEventBatch)
    assert.equal(view.earnings?.totalPaid, '5')
    assert.equal(view.problem, undefined)
    assert.deepEqual(view.errors.map(e => e.message), ['relay down'])

    close()
    const sent = received.length
    node.emit('status', node.statusValue) // wakes the request under way; its answer is not sent
    await relaying
    assert.equal(received.length, sent)
    // each request went on from where the last one ended
    const cursors = requests.map(r => (r as { after?: { seq: number } }).after?.seq)
    assert.equal(cursors[0], undefined)
    assert.deepEqual([...new Set(cursors.slice(1))], [snapshot.seq, snapshot.seq + 1])
  } finally {
    (globalThis as { chrome?: unknown }).chrome = previous
  }
})

/** The page's side: chrome.runtime.connect as a page sees it, with the worker's end in the test's hands. */
function fakeRuntime (): { ports: Array<{ post: (m: NodeEventPortMessage) => void, drop: () => void, disconnected: boolean }>, runtime: unknown } {
  const ports: Array<{ post: (m: NodeEventPortMessage) => void, drop: () => void, disconnected: boolean }> = []
  const runtime = {
    lastError: undefined,
    connect: ({ name }: { name: string }) => {
      assert.equal(name, 'peerloom:node-events')
      const onMessage: Array<(m: NodeEventPortMessage) => void> = []
      const onDisconnect: Array<() => void> = []
      const end = { post: (m: NodeEventPortMessage) => { for (const l of onMessage) l(m) }, drop: () => { for (const l of onDisconnect) l() }, disconnected: false }
      ports.push(end)
      return {
        onMessage: { addListener: (l: (m: NodeEventPortMessage) => void) => { onMessage.push(l) } },
        onDisconnect: { addListener: (l: () => void) => { onDisconnect.push(l) } },
        disconnect: () => { end.disconnected = true }
      }
    }
  }
  return { ports, runtime }
}

test('a page connects again when the worker drops its port or falls silent, and stops when it unsubscribes', async t => {
  const { subscribeToNode } = await import('../src/ui/node-client.ts')
  const { ports, runtime } = fakeRuntime()
  const previous = (globalThis as { chrome?: unknown }).chrome
  ;(globalThis as { chrome?: unknown }).chrome = { runtime }
  t.mock.timers.enable({ apis: ['setTimeout'] })
  try {
    const batches: NodeEventBatch[] = []
    const problems: string[] = []
    const unsubscribe = subscribeToNode({ onBatch: b => batches.push(b), onProblem: p => problems.push(p) })
    assert.equal(ports.length, 1)
    const batch: NodeEventBatch = { feed: 'f', seq: 1, snapshot: true, events: [] }
    ports[0]!.post(batch)
    ports[0]!.post({ error: { code: ErrorCode.DISCONNECTED, message: 'the node did not answer' } })
    assert.deepEqual(batches, [batch])
    assert.deepEqual(problems, ['the node did not answer'])

    // the port closed (the worker went away with it): a new one after a short wait
    ports[0]!.drop()
    t.mock.timers.tick(249)
    assert.equal(ports.length, 1)
    t.mock.timers.tick(1)
    assert.equal(ports.length, 2)

    // the worker stopped but the port stays open (the node's document holds an end): silence ends it
    ports[1]!.post(batch)
    t.mock.timers.tick(19_999)
    assert.equal(ports[1]!.disconnected, false, 'messages at least every 5 s keep it')
    t.mock.timers.tick(1)
    assert.equal(ports[1]!.disconnected, true)
    t.mock.timers.tick(250)
    assert.equal(ports.length, 3)

    unsubscribe()
    assert.equal(ports[2]!.disconnected, true)
    t.mock.timers.tick(60_000)
    assert.equal(ports.length, 3, 'no reconnection after unsubscribing')
  } finally {
    (globalThis as { chrome?: unknown }).chrome = previous
  }
})
