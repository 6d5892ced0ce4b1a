/**
 * The forwarder harness's forwarder page (bundled by forwarder-harness.ts): the real
 * ForwarderEngine and frame relay, driven by the test instead of FORWARD_PROTOCOL. What the
 * engine sends goes out through the `fwSend` binding; the test routes it to the participant.
 */
import { ForwarderEngine } from '../../extension/src/calls/forwarder/engine.ts'
import type { LegMessage } from '../../extension/src/calls/forwarder/engine.ts'
import { errorToWire } from '@peerloom/shared'

declare global {
  interface Window {
    fwSend: (legId: string, message: LegMessage) => Promise<void>
    forwarder: ForwarderPage
  }
}

interface ForwarderPage {
  start: (limits: { maxStreams: number, uploadRateBytesPerSec: number }) => void
  attach: (legId: string, roomId: string, peerId: string, kind?: 'participant' | 'cascade', polite?: boolean) => { ok: true } | { ok: false, code: number, message: string }
  receive: (legId: string, message: LegMessage | { type: 'detach' }) => Promise<{ ok: true } | { ok: false, code: number, message: string }>
  stats: () => ReturnType<ForwarderEngine['stats']>
  sample: (roomId: string, peerId: string, count: number) => Promise<string[]>
  closed: string[]
}

let engine: ForwarderEngine | undefined
const closed: string[] = []

window.forwarder = {
  closed,
  start (limits) {
    engine = new ForwarderEngine({
      createWorker: () => new Worker('/relay-worker.js'),
      limits: () => limits,
      send: (legId, message) => { void window.fwSend(legId, message) },
      onClosed: legId => { closed.push(legId) }
    })
  },
  attach (legId, roomId, peerId, kind = 'participant', polite = false) {
    try {
      engine!.attach(legId, { roomId, peerId, kind, polite })
      return { ok: true }
    } catch (err) {
      return { ok: false, ...errorToWire(err) }
    }
  },
  async receive (legId, message) {
    try {
      if (message.type === 'signal') await engine!.signal(legId, message.data)
      else if (message.type === 'tracks') engine!.tracks(legId, message.mids)
      else if (message.type === 'detach') engine!.detach(legId)
      return { ok: true }
    } catch (err) {
      return { ok: false, ...errorToWire(err) }
    }
  },
  stats: () => engine!.stats(),
  sample: async (roomId, peerId, count) => await engine!.sample(roomId, peerId, 'video', count)
}
