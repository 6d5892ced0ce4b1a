/**
 * The relay's check of forwarder announcements (docs/CALLS.md, Forwarders): what is dropped,
 * and under which coded reason, before it reaches any participant.
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { FORWARDERS_TOPIC, ROOM_TOPIC_PREFIX } from '@peerloom/shared/protocols'
import { MAX_ANNOUNCED_ADDRS, MAX_ANNOUNCED_ADDR_CHARS, announcementProblem, messageProblem } from '../src/calls/pubsub.ts'

const announcer = '12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA'
const other = 'QmcgpsyWgH8Y8ajJz1Cu72KnS5uo2Aa2LpzU7kinSupNKC'
const relayed = `/ip4/127.0.0.1/tcp/4001/ws/p2p/${other}/p2p-circuit/p2p/${announcer}`
const webrtc = `/ip4/127.0.0.1/tcp/4001/ws/p2p/${other}/p2p-circuit/webrtc/p2p/${announcer}`

function announcement (fields: Record<string, unknown>): Uint8Array {
  return new TextEncoder().encode(JSON.stringify({ v: 1, load: 0, maxStreams: 8, rooms: 0, ...fields }))
}

describe('forwarder announcements on the relay', () => {
  it('passes one whose addresses all lead to its signer, and one with none', () => {
    assert.equal(announcementProblem(announcement({ addrs: [relayed, webrtc] }), announcer), undefined)
    assert.equal(announcementProblem(announcement({ addrs: Array<string>(MAX_ANNOUNCED_ADDRS).fill(relayed) }), announcer), undefined)
    assert.equal(announcementProblem(announcement({}), announcer), undefined)
    assert.equal(messageProblem(FORWARDERS_TOPIC, announcement({ addrs: [relayed] }), announcer), undefined)
  })

  it('drops more than 8 addresses as addrs-count', () => {
    assert.equal(announcementProblem(announcement({ addrs: Array<string>(MAX_ANNOUNCED_ADDRS + 1).fill(relayed) }), announcer), 'addrs-count')
  })

  it('drops an address longer than 512 characters as addrs-length', () => {
    const long = `/dns4/${'a'.repeat(MAX_ANNOUNCED_ADDR_CHARS)}.example/tcp/1/ws/p2p/${announcer}`
    assert.ok(long.length > MAX_ANNOUNCED_ADDR_CHARS)
    assert.equal(announcementProblem(announcement({ addrs: [relayed, long] }), announcer), 'addrs-length')
  })

  it('drops what is not a multiaddr as addrs-format', () => {
    for (const bad of ['not an address', `/ip4/127.0.0.1/tcp/notaport/p2p/${announcer}`, `/nosuch/1/p2p/${announcer}`, `/ip4/127.0.0.1/tcp/1/p2p/not-a-peer-id/p2p/${announcer}`]) {
      assert.equal(announcementProblem(announcement({ addrs: [bad] }), announcer), 'addrs-format', bad)
    }
  })

  it('drops an address that leads to another peer, or to no peer, as addrs-peer', () => {
    assert.equal(announcementProblem(announcement({ addrs: [relayed] }), other), 'addrs-peer', 'signed by another peer than the one it names')
    assert.equal(announcementProblem(announcement({ addrs: [`/ip4/127.0.0.1/tcp/4001/ws/p2p/${other}`] }), announcer), 'addrs-peer')
    assert.equal(announcementProblem(announcement({ addrs: ['/ip4/127.0.0.1/tcp/4001/ws'] }), announcer), 'addrs-peer')
    assert.equal(announcementProblem(announcement({ addrs: [`/p2p/${announcer}/p2p-circuit`] }), announcer), 'addrs-peer')
  })

  it('drops an announcement that is not shaped as CALLS.md says as malformed', () => {
    assert.equal(announcementProblem(announcement({ addrs: [42] }), announcer), 'malformed')
    assert.equal(announcementProblem(announcement({ addrs: relayed }), announcer), 'malformed')
    assert.equal(announcementProblem(announcement({ v: 2 }), announcer), 'malformed')
    assert.equal(announcementProblem(new TextEncoder().encode('{"v":1'), announcer), 'malformed')
    assert.equal(announcementProblem(Uint8Array.of(0xff, 0xfe), announcer), 'malformed')
  })

  it('reads room topics as envelopes, not announcements', () => {
    const topic = ROOM_TOPIC_PREFIX + '00'.repeat(32)
    assert.equal(messageProblem(topic, announcement({ addrs: [relayed] }), announcer), 'malformed')
  })
})
