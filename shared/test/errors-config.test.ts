import { test } from 'node:test'
import assert from 'node:assert/strict'
import { ErrorCode, PeerloomError, BadLinkError, UserRejectedError, UnauthorizedError, errorFromWire, errorToWire, isPeerloomError } from '../src/errors.ts'
import { parseConfig } from '../src/config/parse.ts'
import { relayConfigSchema } from '../src/config/relay.ts'
import { nodeSettingsSchema } from '../src/config/node.ts'

test('page-API codes are the EIP-1193 ones and all codes are distinct', () => {
  assert.equal(ErrorCode.USER_REJECTED, 4001)
  assert.equal(ErrorCode.UNAUTHORIZED, 4100)
  assert.equal(ErrorCode.UNSUPPORTED_METHOD, 4200)
  assert.equal(ErrorCode.DISCONNECTED, 4900)
  const codes = Object.values(ErrorCode)
  assert.equal(new Set(codes).size, codes.length)
})

test('errors keep name, code and data across a JSON boundary', () => {
  const err = new BadLinkError('link must start with peerloom://', { data: { field: 'link' } })
  assert.equal(err.name, 'BadLinkError')
  assert.equal(err.code, ErrorCode.BAD_LINK)
  assert.ok(err instanceof PeerloomError && err instanceof Error)
  const back = errorFromWire(JSON.parse(JSON.stringify(err)))
  assert.equal(back.name, 'BadLinkError')
  assert.equal(back.code, ErrorCode.BAD_LINK)
  assert.equal(back.message, err.message)
  assert.deepEqual(back.data, { field: 'link' })
  assert.equal(errorFromWire({ code: 4001, message: 'no' }).name, new UserRejectedError('x').name)
  assert.equal(errorFromWire({ code: 'x' }).code, ErrorCode.DISCONNECTED)
  assert.ok(isPeerloomError({ code: 4100, message: 'x' }))
  assert.ok(!isPeerloomError({ code: 1, message: 'x' }))
  assert.ok(isPeerloomError(new UnauthorizedError('x')))
})

test('errorToWire keeps code and data, and turns anything else into a 4900 with its message', () => {
  const wire = errorToWire(new BadLinkError('bad', { data: { field: 'link' } }))
  assert.deepEqual(wire, { code: ErrorCode.BAD_LINK, message: 'bad', data: { field: 'link' } })
  assert.equal(errorFromWire(structuredClone(wire)).name, 'BadLinkError')
  assert.deepEqual(errorToWire(new TypeError('boom')), { code: ErrorCode.DISCONNECTED, message: 'boom' })
  assert.deepEqual(errorToWire('plain'), { code: ErrorCode.DISCONNECTED, message: 'plain' })
})

test('configuration: defaults fill in, and a bad value is named in the error', () => {
  const relay = parseConfig(relayConfigSchema, { http: '127.0.0.1:0' })
  assert.equal(relay.limits.maxReservations >= 1000, true)
  assert.deepEqual(parseConfig(nodeSettingsSchema, {}).donate, false, 'serving is off by default')
  const cases: Array<[unknown, RegExp]> = [
    [{ http: '127.0.0.1:99999' }, /config\.http: port must be at most 65535/],
    [{ listen: ['not-a-multiaddr'] }, /config\.listen\.0: must be a multiaddr/],
    [{ listen: [] }, /config\.listen: needs at least one address/],
    [{ limits: { maxReservations: 0 } }, /config\.limits\.maxReservations/],
    [{ bogus: 1 }, /config/]
  ]
  for (const [input, message] of cases) {
    assert.throws(() => parseConfig(relayConfigSchema, input), (err: unknown) => err instanceof PeerloomError && err.code === ErrorCode.BAD_CONFIG && message.test(err.message), message.source)
  }
  assert.throws(() => parseConfig(nodeSettingsSchema, { relays: ['/ip4/127.0.0.1/tcp/1/ws'] }, 'settings'), /settings\.relays\.0: must end in \/p2p/)
  assert.throws(() => parseConfig(nodeSettingsSchema, { payoutAddress: '0x12' }, 'settings'), /settings\.payoutAddress/)
})
