import { test } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { CID } from 'multiformats/cid'
import { sha256 } from 'multiformats/hashes/sha2'
import * as dagJson from '@ipld/dag-json'
import * as raw from 'multiformats/codecs/raw'
import { formatLink, parseLink } from '../src/link.ts'
import { BadLinkError } from '../src/errors.ts'

const manifest = CID.createV1(dagJson.code, await sha256.digest(new TextEncoder().encode('{}')))
const key = new Uint8Array(32).fill(7)

test('format and parse round-trip, with and without a key', () => {
  fc.assert(fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.boolean(), (k, withKey) => {
    const link = formatLink(withKey ? { manifest, key: k } : { manifest })
    const parsed = parseLink(link)
    assert.ok(parsed.manifest.equals(manifest))
    assert.deepEqual(parsed.key, withKey ? k : undefined)
    assert.equal(formatLink(parsed), link)
  }))
})

test('malformed links are refused with BadLinkError', async () => {
  const good = formatLink({ manifest, key })
  const rawCid = CID.createV1(raw.code, await sha256.digest(new Uint8Array(1)))
  const bad: unknown[] = [
    '', 'peerloom:/' + manifest.toString(), 'https://' + manifest.toString(), 'PEERLOOM://' + manifest.toString(),
    'peerloom://', 'peerloom://Qm' + 'a'.repeat(44), 'peerloom://' + manifest.toV1().toString().toUpperCase(),
    'peerloom://' + rawCid.toString(), 'peerloom://bafy!', good.replace('#k=', '#key='), good + 'A', good.slice(0, -1),
    good + '=', good.replace('#k=', '#k=+'), 'peerloom://' + manifest.toString() + '#', 'peerloom://' + manifest.toString() + '/path',
    good + '&x=1', 'x'.repeat(600), 42, null, undefined, {}
  ]
  for (const link of bad) {
    assert.throws(() => parseLink(link as string), BadLinkError, String(link))
  }
})

test('random strings never crash the parser: they parse or throw BadLinkError', () => {
  fc.assert(fc.property(fc.string({ maxLength: 200 }), text => {
    for (const candidate of [text, 'peerloom://' + text, formatLink({ manifest }) + text]) {
      try { parseLink(candidate) } catch (err) { assert.ok(err instanceof BadLinkError) }
    }
  }), { numRuns: 500 })
})
