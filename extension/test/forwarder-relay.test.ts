/**
 * The forwarder's frame relay (frame-relay.ts) with a stand-in worker scope and transformer:
 * a sink gets nothing until the document says its sender can send, then asks the sender for a
 * key frame at once (past the request throttle) and writes from that key frame on.
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { runFrameRelay } from '../src/calls/forwarder/frame-relay.ts'
import type { RelayScope } from '../src/calls/forwarder/frame-relay.ts'
import type { EncodedFrame, RelayCommand, RelayReport } from '../src/calls/forwarder/relay-protocol.ts'

/** The encoded-frame constructor the relay copies frames with (the browser's copies data and type). */
class FakeFrame implements EncodedFrame {
  data: ArrayBuffer
  readonly type?: 'key' | 'delta' | 'empty'
  constructor (frame: EncodedFrame) {
    this.data = frame.data.slice(0)
    this.type = frame.type
  }
}
Object.assign(globalThis, { RTCEncodedVideoFrame: FakeFrame, RTCEncodedAudioFrame: FakeFrame })

function rig (): {
  command: (command: RelayCommand) => void
  frame: (type: 'key' | 'delta') => Promise<void>
  written: EncodedFrame[]
  keyRequests: () => number
  settle: () => Promise<void>
} {
  const listeners = new Map<string, (event: any) => void>()
  const reports: RelayReport[] = []
  const scope: RelayScope = {
    postMessage: report => { reports.push(report) },
    addEventListener: (type, listener) => { listeners.set(type, listener) }
  }
  runFrameRelay(scope)
  let push!: ReadableStreamDefaultController<EncodedFrame>
  let requests = 0
  listeners.get('rtctransform')!({
    transformer: {
      readable: new ReadableStream<EncodedFrame>({ start: c => { push = c } }),
      writable: new WritableStream<EncodedFrame>(),
      options: { source: 's1', kind: 'video' },
      sendKeyFrameRequest: async () => { requests++ }
    }
  })
  const written: EncodedFrame[] = []
  const settle = async (): Promise<void> => { for (let i = 0; i < 10; i++) await new Promise(resolve => setImmediate(resolve)) }
  return {
    command: command => { listeners.get('message')!({ data: command }) },
    frame: async type => {
      push.enqueue({ data: new Uint8Array([type === 'key' ? 1 : 2, written.length]).buffer, type })
      await settle()
    },
    written,
    keyRequests: () => requests,
    settle
  }
}

describe('frame relay', () => {
  it('writes nothing to a sink before it is ready, then asks for a key frame and starts with it', async () => {
    const r = rig()
    r.command({ type: 'subscribe', source: 's1', sink: 'k1', kind: 'video', writable: new WritableStream<EncodedFrame>({ write: frame => { r.written.push(frame) } }) })
    await r.frame('key')
    await r.frame('delta')
    assert.equal(r.written.length, 0, 'a sender that cannot send yet would drop the key frame')
    const before = r.keyRequests()
    r.command({ type: 'ready', sink: 'k1' })
    await r.settle()
    assert.equal(r.keyRequests(), before + 1, 'ready asks the sender for a key frame at once')
    await r.frame('delta')
    assert.equal(r.written.length, 0, 'delta frames before the key frame are skipped')
    await r.frame('key')
    await r.frame('delta')
    assert.deepEqual(r.written.map(f => f.type), ['key', 'delta'])
  })

  it('a second ready for the same sink changes nothing', async () => {
    const r = rig()
    r.command({ type: 'subscribe', source: 's1', sink: 'k1', kind: 'video', writable: new WritableStream<EncodedFrame>({ write: frame => { r.written.push(frame) } }) })
    r.command({ type: 'ready', sink: 'k1' })
    await r.frame('key')
    const requests = r.keyRequests()
    r.command({ type: 'ready', sink: 'k1' })
    await r.frame('delta')
    assert.equal(r.keyRequests(), requests)
    assert.deepEqual(r.written.map(f => f.type), ['key', 'delta'])
  })
})
