/**
 * The forwarder harness's participant transform worker: on the way out it optionally
 * "encrypts" each frame (XOR past the clear bytes CALLS.md keeps, enough to make it
 * undecodable without the inverse) and stamps it with the send time; it records SHA-256
 * digests of what it sent and received so the test can compare bytes across the forwarder.
 */

interface Frame { data: ArrayBuffer, readonly type?: 'key' | 'delta' | 'empty' }
interface Transformer { readable: ReadableStream<Frame>, writable: WritableStream<Frame>, options: TransformOptions }
export interface TransformOptions { role: 'send' | 'recv', kind: 'audio' | 'video', encrypt: boolean, stamp: boolean, id: string }

/** Digests kept per list: over a minute of 30 fps video. */
const KEEP = 3000
const STAMP_BYTES = 8

const sent: string[] = []
const plain: string[] = []
const received: Record<string, string[]> = {}
const latency: Record<string, number[]> = {}

function push<T> (list: T[], value: T): void {
  list.push(value)
  if (list.length > KEEP) list.shift()
}

async function digest (bytes: ArrayBuffer): Promise<string> {
  const d = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes))
  return Array.from(d, b => b.toString(16).padStart(2, '0')).join('')
}

function clearBytes (frame: Frame, kind: 'audio' | 'video'): number {
  if (kind === 'audio') return 1
  return frame.type === 'key' ? 10 : 3
}

function xor (bytes: Uint8Array, from: number): void {
  for (let i = from; i < bytes.length; i++) bytes[i] = (bytes[i] as number) ^ ((i * 31 + 7) & 0xff) ^ 0x5a
}

const scope = globalThis as unknown as {
  onrtctransform: (event: { transformer: Transformer }) => void
  onmessage: (event: MessageEvent<{ type: 'query' }>) => void
  postMessage: (message: unknown) => void
}

scope.onrtctransform = ({ transformer }) => {
  const { role, kind, encrypt, stamp, id } = transformer.options
  const transform = new TransformStream<Frame, Frame>({
    transform (frame, controller) {
      if (role === 'send') {
        const original = frame.data
        const body = new Uint8Array(original.byteLength + (stamp ? STAMP_BYTES : 0))
        body.set(new Uint8Array(original))
        if (encrypt) xor(body.subarray(0, original.byteLength), clearBytes(frame, kind))
        if (stamp) new DataView(body.buffer).setFloat64(original.byteLength, performance.timeOrigin + performance.now())
        frame.data = body.buffer
        if (kind === 'video') {
          void digest(frame.data).then(d => { push(sent, d) })
          if (encrypt) void digest(original).then(d => { push(plain, d) })
        }
      } else {
        if (kind === 'video') void digest(frame.data.slice(0)).then(d => { push(received[id] ??= [], d) })
        let bytes = new Uint8Array(frame.data)
        if (stamp && bytes.length > STAMP_BYTES) {
          const at = new DataView(frame.data).getFloat64(bytes.length - STAMP_BYTES)
          if (kind === 'video') push(latency[id] ??= [], performance.timeOrigin + performance.now() - at)
          bytes = bytes.slice(0, bytes.length - STAMP_BYTES)
        } else {
          bytes = bytes.slice()
        }
        if (encrypt) xor(bytes, clearBytes(frame, kind))
        frame.data = bytes.buffer
      }
      controller.enqueue(frame)
    }
  })
  transformer.readable.pipeThrough(transform).pipeTo(transformer.writable).catch(() => {})
}

scope.onmessage = () => {
  scope.postMessage({ sent, plain, received, latency })
}
