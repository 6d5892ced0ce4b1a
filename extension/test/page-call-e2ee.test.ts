/** The call page's E2EE worker logic: own keys and their switch, senders' keys and their grace, forwarder mids. */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { CallFrameCrypto, OLD_KEY_GRACE_MS, frameKind } from '../src/page-api/page/e2ee-frames.ts'
import { frameKeyId } from '@peerloom/shared/calls/frame'

const key = (): ArrayBuffer => new Uint8Array(randomBytes(32)).buffer
const frame = (text: string): ArrayBuffer => new TextEncoder().encode(text).buffer as ArrayBuffer
const text = (bytes: ArrayBuffer | null): string | null => bytes === null ? null : new TextDecoder().decode(bytes)

test('a sender\'s frames open at a receiver holding its key, and nowhere else', async () => {
  const alice = new CallFrameCrypto()
  const bob = new CallFrameCrypto()
  const aliceKey = key()
  // before it has a key, a sender drops its frames rather than send them in the clear
  assert.equal(await alice.seal(frame('early'), 'key'), null)
  await alice.command({ type: 'own-key', keyId: 3, key: aliceKey })
  const sealed = await alice.seal(frame('hello, this is a key frame'), 'key')
  assert.notEqual(sealed, null)
  assert.equal(frameKeyId(new Uint8Array(sealed!)), 3)
  assert.equal(text(await bob.open({ role: 'receive', kind: 'video', peerId: 'alice' }, sealed!, 'key')), null, 'no key yet: dropped')
  assert.equal(await bob.command({ type: 'peer-key', peerId: 'alice', keyId: 3, key: aliceKey }), 'alice')
  assert.equal(text(await bob.open({ role: 'receive', kind: 'video', peerId: 'alice' }, sealed!, 'key')), 'hello, this is a key frame')
  // the same frame heard as another peer's (a mixed-up connection) does not open
  await bob.command({ type: 'peer-key', peerId: 'carol', keyId: 3, key: key() })
  assert.equal(await bob.open({ role: 'receive', kind: 'video', peerId: 'carol' }, sealed!, 'key'), null)
  // neither does it as a delta frame, whose clear part is shorter
  assert.equal(await bob.open({ role: 'receive', kind: 'video', peerId: 'alice' }, sealed!, 'delta'), null)
  assert.equal(bob.dropped, 3)
})

test('a new own key is used from switchAt on; receivers keep the old one for the grace time', async () => {
  let now = 1_000_000
  const alice = new CallFrameCrypto({ now: () => now })
  const bob = new CallFrameCrypto({ now: () => now })
  const first = key()
  const second = key()
  const source = { role: 'receive', kind: 'audio', peerId: 'alice' } as const
  await alice.command({ type: 'own-key', keyId: 1, key: first })
  await bob.command({ type: 'peer-key', peerId: 'alice', keyId: 1, key: first })
  await alice.command({ type: 'own-key', keyId: 2, key: second, switchAt: now + 500 })
  const beforeSwitch = await alice.seal(frame('a'), 'audio')
  assert.equal(frameKeyId(new Uint8Array(beforeSwitch!)), 1)
  await bob.command({ type: 'peer-key', peerId: 'alice', keyId: 2, key: second })
  now += 500
  const afterSwitch = await alice.seal(frame('b'), 'audio')
  assert.equal(frameKeyId(new Uint8Array(afterSwitch!)), 2)
  assert.equal(text(await bob.open(source, afterSwitch!, 'audio')), 'b')
  // a late frame under the old key still opens within the grace time, not after
  assert.equal(text(await bob.open(source, beforeSwitch!, 'audio')), 'a')
  now += OLD_KEY_GRACE_MS + 1
  assert.equal(await bob.open(source, beforeSwitch!, 'audio'), null)
  assert.equal(text(await bob.open(source, afterSwitch!, 'audio')), 'b')
  // a member who left takes its keys along
  await bob.command({ type: 'peer-left', peerId: 'alice' })
  assert.equal(await bob.open(source, afterSwitch!, 'audio'), null)
})

test('through a forwarder, a mid opens with the key of the peer the forwarder named for it', async () => {
  const alice = new CallFrameCrypto()
  const bob = new CallFrameCrypto()
  const aliceKey = key()
  await alice.command({ type: 'own-key', keyId: 7, key: aliceKey })
  await bob.command({ type: 'peer-key', peerId: 'alice', keyId: 7, key: aliceKey })
  const sealed = await alice.seal(frame('via forwarder'), 'delta')
  const source = { role: 'receive', kind: 'video', forwarder: 'fwd', mid: '4' } as const
  assert.equal(bob.senderOf(source), null)
  assert.equal(await bob.open(source, sealed!, 'delta'), null)
  await bob.command({ type: 'mid', forwarder: 'fwd', mid: '4', peerId: 'alice' })
  assert.equal(text(await bob.open(source, sealed!, 'delta')), 'via forwarder')
  assert.equal(await bob.open({ ...source, forwarder: 'other' }, sealed!, 'delta'), null)
})

test('clear bytes follow the frame: video by its type, audio always', () => {
  assert.equal(frameKind('video', 'key'), 'key')
  assert.equal(frameKind('video', 'delta'), 'delta')
  assert.equal(frameKind('audio', undefined), 'audio')
  assert.equal(frameKind('audio', 'key'), 'audio')
})

test('a malformed key is refused and changes nothing', async () => {
  const bob = new CallFrameCrypto()
  await assert.rejects(bob.command({ type: 'peer-key', peerId: 'alice', keyId: 1, key: new ArrayBuffer(5) }), { code: 5000 })
  await assert.rejects(bob.command({ type: 'own-key', keyId: 70000, key: key() }), { code: 5000 })
  assert.equal(await bob.seal(frame('x'), 'audio'), null)
})
