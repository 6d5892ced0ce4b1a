/**
 * What the libp2p stack expects from the runtime and Node 20 lacks: `Promise.withResolvers`
 * (Node 22) and a global `WebSocket` (Node 22; used by the WebSockets transport to dial).
 * Imported first by every entry point, before anything from libp2p loads.
 */
import { WebSocket as NodeWebSocket } from 'ws'

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

const g = globalThis as { WebSocket?: unknown }
g.WebSocket ??= NodeWebSocket
