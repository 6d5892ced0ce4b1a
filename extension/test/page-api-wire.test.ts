/** The page ↔ node wire: credit-based backpressure over a real MessageChannel. */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { IncomingStream, OutgoingStream, STREAM_WINDOW, transferable } from '../src/page-api/wire.ts'

/** A source of `count` chunks that records how many were pulled. */
function source (count: number, size = 1000): { stream: ReadableStream<Uint8Array>, pulled: () => number, cancelled: () => boolean } {
  let pulled = 0
  let cancelled = false
  return {
    stream: new ReadableStream<Uint8Array>({
      pull: controller => {
        if (pulled === count) { controller.close(); return }
        controller.enqueue(new Uint8Array(size).fill(pulled++ % 256))
      },
      cancel: () => { cancelled = true }
    }, { highWaterMark: 0 }),
    pulled: () => pulled,
    cancelled: () => cancelled
  }
}

/** Wires an OutgoingStream to an IncomingStream across a MessageChannel, as page and node do. */
/** Resolves once `condition` holds, checking every 5 ms; fails after `ms` (generous: a loaded machine is slow, not wrong). */
async function until (condition: () => boolean, what: string, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms
  while (!condition()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`)
    await new Promise(resolve => setTimeout(resolve, 5))
  }
}

function pipe (count: number): { incoming: IncomingStream, run: Promise<boolean>, src: ReturnType<typeof source>, out: OutgoingStream, channel: MessageChannel } {
  const channel = new MessageChannel()
  const src = source(count)
  const out = new OutgoingStream(src.stream)
  channel.port1.onmessage = event => {
    const m = event.data as { t: string, n?: number }
    if (m.t === 'credit') out.credit(m.n as number)
    if (m.t === 'cancel') out.cancel()
  }
  const incoming = new IncomingStream(n => { channel.port2.postMessage({ t: 'credit', n }) }, () => { channel.port2.postMessage({ t: 'cancel' }) })
  channel.port2.onmessage = event => {
    const m = event.data as { t: string, bytes?: ArrayBuffer }
    if (m.t === 'chunk') incoming.push(m.bytes as ArrayBuffer)
    if (m.t === 'end') incoming.end()
  }
  const run = out.run(bytes => { channel.port1.postMessage({ t: 'chunk', bytes }, [bytes]) }, 5000).then(done => {
    if (done) channel.port1.postMessage({ t: 'end' })
    return done
  })
  return { incoming, run, src, out, channel }
}

test('every chunk arrives in order and the stream ends', async () => {
  const { incoming, run, channel } = pipe(40)
  const chunks: Uint8Array[] = []
  for await (const chunk of incoming.stream as unknown as AsyncIterable<Uint8Array>) chunks.push(chunk)
  assert.equal(await run, true)
  assert.equal(chunks.length, 40)
  chunks.forEach((chunk, i) => { assert.equal(chunk[0], i % 256); assert.equal(chunk.length, 1000) })
  channel.port1.close()
})

test('a reader that stops reading stops the sender after one window', async () => {
  const { incoming, src, out, channel } = pipe(1000)
  const reader = incoming.stream.getReader()
  await reader.read()
  await new Promise(resolve => setTimeout(resolve, 100))
  // one chunk handed out plus a full window in flight or queued; the source is not drained
  assert.ok(src.pulled() <= STREAM_WINDOW + 2, `pulled ${src.pulled()}`)
  await reader.cancel()
  await until(() => out.isCancelled, 'the sender to see the cancel')
  assert.equal(src.cancelled(), true)
  channel.port1.close()
})

test('a receiver that grants no credit is given up after the idle timeout', async () => {
  const src = source(10)
  const out = new OutgoingStream(src.stream)
  const started = Date.now()
  assert.equal(await out.run(() => {}, 80), false)
  assert.ok(Date.now() - started >= 70)
  assert.equal(src.cancelled(), true)
})

test('transferable never hands over a buffer shared with other bytes', () => {
  const whole = new Uint8Array([1, 2, 3, 4])
  assert.equal(transferable(whole), whole.buffer)
  const part = whole.subarray(1, 3)
  const buffer = transferable(part)
  assert.notEqual(buffer, whole.buffer)
  assert.deepEqual([...new Uint8Array(buffer)], [2, 3])
})

test('with an implicit window the sender starts at once and still stops after one window', async () => {
  const channel = new MessageChannel()
  const src = source(100)
  const out = new OutgoingStream(src.stream, STREAM_WINDOW)
  channel.port1.onmessage = event => { if ((event.data as { t: string }).t === 'credit') out.credit((event.data as { n: number }).n) }
  let granted = 0
  const incoming = new IncomingStream(n => { granted += n; channel.port2.postMessage({ t: 'credit', n }) }, () => {}, { implicitWindow: true })
  channel.port2.onmessage = event => { incoming.push((event.data as { bytes: ArrayBuffer }).bytes) }
  const sent: number[] = []
  void out.run(bytes => { sent.push(bytes.byteLength); channel.port1.postMessage({ bytes }, [bytes]) }, 5000)
  await until(() => sent.length >= STREAM_WINDOW, 'a window to go out')
  assert.equal(granted, 0) // nothing asked for yet, yet a window is on its way
  assert.equal(sent.length, STREAM_WINDOW)
  const reader = incoming.stream.getReader()
  assert.equal((await reader.read()).value?.[0], 0)
  await until(() => granted >= 1 && sent.length > STREAM_WINDOW, 'one credit and one more chunk')
  assert.equal(granted, 1)
  assert.equal(sent.length, STREAM_WINDOW + 1)
  await reader.cancel()
  out.cancel()
  channel.port1.close()
})
