/**
 * patches/@libp2p+webrtc+*.patch sends each stream frame as one data channel message built with
 * a single copy. These tests drive libp2p's own WebRTC stream over a fake data channel: what the
 * patched sender emits must be read back unchanged by libp2p's unpatched receiving code.
 */
import './polyfills.ts'
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { DATA_CHANNEL_MESSAGE_BYTES } from '../src/constants.ts'

// the stream module is internal to @libp2p/webrtc (not in its exports); the patch changes it
const { createStream } = await import(new URL('./stream.js', import.meta.resolve('@libp2p/webrtc')).href) as {
  createStream: (init: Record<string, unknown>) => EventTarget & { send: (data: Uint8Array) => boolean }
}

const log = Object.assign(() => {}, { trace: () => {}, error: () => {}, enabled: false, newScope: () => log })

function fakeChannel (id: number): { channel: Record<string, unknown>, sent: Uint8Array[] } {
  const sent: Uint8Array[] = []
  const channel: Record<string, unknown> = {
    id,
    readyState: 'open',
    bufferedAmount: 0,
    send: (data: ArrayBuffer | Uint8Array) => { sent.push(new Uint8Array(data instanceof Uint8Array ? data.slice() : data.slice(0))) },
    close: () => {},
    addEventListener: () => {},
    removeEventListener: () => {}
  }
  return { channel, sent }
}

test('a frame leaves as one data channel message and libp2p reads the bytes back unchanged', async () => {
  for (const size of [1, 127, 128, 16_384, DATA_CHANNEL_MESSAGE_BYTES - 100, 3 * DATA_CHANNEL_MESSAGE_BYTES + 17]) {
    const data = new Uint8Array(size).map((_, i) => (i * 31 + size) & 0xff)
    const out = fakeChannel(1)
    const sender = createStream({ channel: out.channel, direction: 'outbound', log, maxMessageSize: DATA_CHANNEL_MESSAGE_BYTES })
    sender.send(data)
    // one message per frame: frames carry at most DATA_CHANNEL_MESSAGE_BYTES minus libp2p's protobuf overhead
    assert.equal(out.sent.length, Math.ceil(size / (DATA_CHANNEL_MESSAGE_BYTES - 16)), `${size} bytes`)
    for (const message of out.sent) assert.ok(message.byteLength <= DATA_CHANNEL_MESSAGE_BYTES, `${size} bytes: a ${message.byteLength}-byte message`)

    const into = fakeChannel(2)
    const receiver = createStream({ channel: into.channel, direction: 'inbound', log })
    const received: Uint8Array[] = []
    receiver.addEventListener('message', (event: Event) => {
      const { data: part } = event as Event & { data: { subarray: () => Uint8Array } }
      received.push(part.subarray())
    })
    for (const message of out.sent) (into.channel.onmessage as (event: { data: ArrayBuffer }) => void)({ data: message.buffer as ArrayBuffer })
    const total = (): number => received.reduce((n, part) => n + part.byteLength, 0)
    for (let i = 0; i < 100 && total() < size; i++) await new Promise(resolve => setTimeout(resolve, 5))
    const back = new Uint8Array(total())
    let offset = 0
    for (const part of received) {
      back.set(part, offset)
      offset += part.byteLength
    }
    assert.deepEqual(back, data, `${size} bytes`)
  }
})
