/**
 * What the libp2p stack expects from the runtime and Node 20 lacks: `Promise.withResolvers`
 * (Node 22) and a global `WebSocket` (Node 22; used by the WebSockets transport to dial).
 * Imported first by every entry point, before anything from libp2p loads.
 */
import { createRequire } from 'node:module'

interface PromiseWithResolversPolyfill {
  withResolvers?: <T>() => { promise: Promise<T>, resolve: (value: T | PromiseLike<T>) => void, reject: (reason?: unknown) => void }
}

const PromiseCtor = Promise as unknown as PromiseWithResolversPolyfill
PromiseCtor.withResolvers ??= <T>() => {
  let resolve!: (value: T | PromiseLike<T>) => void
  let reject!: (reason?: unknown) => void
  const promise = new Promise<T>((res, rej) => { resolve = res; reject = rej })
  return { promise, resolve, reject }
}

// `ws` loads on first use: it pulls in http, https and tls, a quarter of a second that
// `peerloom --help` and option errors should not wait for
if ((globalThis as { WebSocket?: unknown }).WebSocket === undefined) {
  Object.defineProperty(globalThis, 'WebSocket', {
    configurable: true,
    get () {
      const { WebSocket } = createRequire(import.meta.url)('ws') as typeof import('ws')
      Object.defineProperty(globalThis, 'WebSocket', { value: WebSocket, writable: true, configurable: true })
      return WebSocket
    },
    set (value: unknown) { Object.defineProperty(globalThis, 'WebSocket', { value, writable: true, configurable: true }) }
  })
}
