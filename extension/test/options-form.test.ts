/** The Options form's checks and the UI's wording: problems named per field in the field's unit, plurals, epochs as times. */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { ConfigError, nodeSettingsSchema, parseConfig } from '@peerloom/shared'
import { fieldOfNodeError, fromDraft, toDraft } from '../src/ui/settings-form.ts'
import { count, formatEpoch } from '../src/ui/format.ts'

const MiB = 1024 * 1024
const draft = toDraft(nodeSettingsSchema.parse({}))

test('the defaults round-trip through the form', () => {
  const checked = fromDraft(draft)
  assert.equal(checked.errors, undefined)
  assert.deepEqual(nodeSettingsSchema.parse(checked.settings), nodeSettingsSchema.parse({}))
})

test('a cache cap below the minimum is named on its field in MiB, not bytes', () => {
  const { errors } = fromDraft({ ...draft, cacheMiB: '4' })
  assert.deepEqual(errors, { cacheMiB: 'must be at least 16 MiB' })
})

test('an upload cap below the minimum is named in MiB/s', () => {
  assert.deepEqual(fromDraft({ ...draft, uploadMiB: '0.001' }).errors, { uploadMiB: 'must be at least 0.016 MiB/s' })
})

test('every wrong field is named at once; blanks and words are not numbers', () => {
  const { errors } = fromDraft({ ...draft, maxPeers: '0', epochSeconds: '', uploadMiB: 'fast', rewardPool: '0x12', relays: '/ip4/127.0.0.1/tcp/1/ws\n/ip4/127.0.0.1/tcp/2/ws/p2p/x', iceServers: '[{' })
  assert.deepEqual(errors, {
    maxPeers: 'must be at least 1',
    epochSeconds: 'enter a number (seconds)',
    uploadMiB: 'enter a number (MiB/s)',
    rewardPool: 'must be a 0x Ethereum address',
    relays: 'line 1: must end in /p2p/<peer id>',
    iceServers: 'must be JSON, e.g. [{"urls": "stun:stun.example.org:3478"}]'
  })
})

test("the node's own ConfigError lands on the field it names, in the field's words", () => {
  let thrown: unknown
  try {
    parseConfig(nodeSettingsSchema, { cacheCapBytes: 1 * MiB }, 'settings')
  } catch (err) {
    thrown = err
  }
  assert.ok(thrown instanceof ConfigError)
  // the message a non-UI caller sees names the unit too
  assert.match(thrown.message, /^settings\.cacheCapBytes: must be at least 16 MiB \(got 1048576\)$/)
  assert.deepEqual(fieldOfNodeError(thrown as Error & { data?: Record<string, unknown> }), { field: 'cacheMiB', message: 'must be at least 16 MiB (got 1048576)' })
  assert.equal(fieldOfNodeError({ message: 'something else' }), undefined)
})

test('counts take the singular for one', () => {
  assert.equal(count(0, 'peer'), '0 peers')
  assert.equal(count(1, 'peer'), '1 peer')
  assert.equal(count(2, 'WebRTC address', 'WebRTC addresses'), '2 WebRTC addresses')
})

test('an epoch (the unix second it opened) shows as a time range, with the date when not today', () => {
  const opened = new Date(2025, 0, 15, 14, 0, 0).getTime()
  const range = formatEpoch(String(opened / 1000), 3600, opened)
  assert.match(range, /^\d{1,2}:00(\s?[AP]M)? – \d{1,2}:00(\s?[AP]M)?$/)
  assert.doesNotMatch(range, /\d{9}/)
  assert.match(formatEpoch(String(opened / 1000), 3600, opened + 3 * 86_400_000), /Jan 15/)
})

test('the calls settings (media role) round-trip, are named in their units, and errors land on their fields', () => {
  const on = fromDraft({ ...draft, mediaForward: true, mediaMaxStreams: '8', mediaUploadMiB: '1.5' })
  assert.deepEqual(on.settings?.media, { forward: true, maxStreams: 8, uploadRateBytesPerSec: 1.5 * MiB })
  assert.equal(draft.mediaForward, false, 'forwarding is opt-in')
  assert.deepEqual(fromDraft({ ...draft, mediaUploadMiB: '0.01', mediaMaxStreams: '300' }).errors, {
    mediaUploadMiB: 'must be at least 0.063 MiB/s',
    mediaMaxStreams: 'must be at most 256'
  })
  assert.deepEqual(fromDraft({ ...draft, mediaMaxStreams: 'many' }).errors, { mediaMaxStreams: 'enter a number (streams)' })
  let thrown: unknown
  try {
    parseConfig(nodeSettingsSchema, { media: { maxStreams: 0 } }, 'settings')
  } catch (err) {
    thrown = err
  }
  assert.ok(thrown instanceof ConfigError)
  assert.deepEqual(fieldOfNodeError(thrown as Error & { data?: Record<string, unknown> }), { field: 'mediaMaxStreams', message: 'must be at least 1 (got 0)' })
})
