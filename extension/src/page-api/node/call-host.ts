/**
 * One page's calls (docs/CALLS.md, Page API): the `peerloom_call*` methods of a page's port,
 * on top of the node's CallService. A page holds at most MAX_CALLS_PER_PAGE calls and reaches
 * only its own; each call's events are pushed as `{ t: 'event', id: <join request id>, event }`,
 * never before the join's answer; the page's calls end when its port closes.
 */
import { CallLimitError, CallNotFoundError } from '@peerloom/shared'
import type { PageParams } from '@peerloom/shared'
import type { CallEvent, CallJoinResult } from '@peerloom/shared/calls/api'
import type { CallService } from '../../calls/call-service.ts'
import { MAX_CALLS_PER_PAGE } from '../../calls/constants.ts'
import type { RoomCall } from '../../calls/room-call.ts'
import type { NodeMessage } from '../wire.ts'

/** The methods this module answers. */
export const CALL_METHODS = new Set([
  'peerloom_callJoin', 'peerloom_callSignal', 'peerloom_callForwarderSignal', 'peerloom_callSeal',
  'peerloom_callOpen', 'peerloom_callStats', 'peerloom_callMedia', 'peerloom_callLeave'
])

interface PageCall {
  call: RoomCall
  /** Events wait here until the page has the join's answer. */
  pending?: CallEvent[]
}

function isEnd (event: CallEvent): boolean {
  return event.type === 'state' && (event.state === 'left' || event.state === 'removed')
}

export class PageCalls {
  private readonly service: CallService
  private readonly origin: string
  private readonly send: (message: NodeMessage) => void
  private readonly calls = new Map<string, PageCall>()
  /** Joins in flight count against the limit too. */
  private joining = 0

  constructor (service: CallService, origin: string, send: (message: NodeMessage) => void) {
    this.service = service
    this.origin = origin
    this.send = send
  }

  /**
   * Joins for the page's request `requestId`. The caller posts the answer and then calls
   * `started(callId)`, which lets the call's events through in order.
   */
  async join (requestId: number, params: PageParams<'peerloom_callJoin'>): Promise<CallJoinResult> {
    if (this.calls.size + this.joining >= MAX_CALLS_PER_PAGE) throw new CallLimitError(`a page may be in at most ${MAX_CALLS_PER_PAGE} calls at once; leave one first`)
    this.joining++
    try {
      const entry: Partial<PageCall> & { pending?: CallEvent[] } = { pending: [] }
      const { call, result } = await this.service.join({
        origin: this.origin,
        room: params.room,
        name: params.name,
        media: params.media,
        onEvent: event => {
          if (entry.pending !== undefined) {
            entry.pending.push(event)
            return
          }
          this.send({ t: 'event', id: requestId, event })
          // a call that ended by itself (removed, room full) is no longer the page's
          if (isEnd(event)) this.calls.delete(result.callId)
        }
      })
      entry.call = call
      this.calls.set(result.callId, entry as PageCall)
      return result
    } finally {
      this.joining--
    }
  }

  /** The page has the join's answer: its queued events follow now. */
  started (requestId: number, callId: string): void {
    const entry = this.calls.get(callId)
    if (entry === undefined) return
    const pending = entry.pending ?? []
    entry.pending = undefined
    for (const event of pending) this.send({ t: 'event', id: requestId, event })
    if (entry.call.isEnded) this.calls.delete(callId)
  }

  private own (callId: string): RoomCall {
    const entry = this.calls.get(callId)
    if (entry === undefined || entry.call.isEnded) throw new CallNotFoundError(`no call ${callId} on this page: it was left, or never joined here`)
    return entry.call
  }

  /** Answers a `peerloom_call*` method other than join (void ones answer null). */
  async handle (method: string, params: unknown): Promise<unknown> {
    switch (method) {
      case 'peerloom_callSignal': {
        const p = params as PageParams<'peerloom_callSignal'>
        await this.own(p.callId).signal(p.to, p.sid, p.data)
        return null
      }
      case 'peerloom_callForwarderSignal': {
        const p = params as PageParams<'peerloom_callForwarderSignal'>
        await this.own(p.callId).forwarderSignal(p.forwarder, p.data)
        return null
      }
      case 'peerloom_callSeal': {
        const p = params as PageParams<'peerloom_callSeal'>
        return await this.own(p.callId).seal(p.text)
      }
      case 'peerloom_callOpen': {
        const p = params as PageParams<'peerloom_callOpen'>
        return await this.own(p.callId).open(p.from, p.sealed)
      }
      case 'peerloom_callStats': {
        const p = params as PageParams<'peerloom_callStats'>
        this.own(p.callId).pageStats(p.forwarderBytes, p.failed ?? [])
        return null
      }
      case 'peerloom_callMedia': {
        const p = params as PageParams<'peerloom_callMedia'>
        await this.own(p.callId).setMedia(p.media)
        return null
      }
      case 'peerloom_callLeave': {
        const p = params as PageParams<'peerloom_callLeave'>
        const call = this.own(p.callId)
        this.calls.delete(p.callId)
        await call.end('left')
        return null
      }
      default: throw new CallNotFoundError(`${method} is not a call method`)
    }
  }

  /** The page went away: every call it held is left. */
  close (): void {
    for (const { call } of this.calls.values()) void call.end('left').catch(() => {}) // a node going down takes the calls with it
    this.calls.clear()
  }
}
