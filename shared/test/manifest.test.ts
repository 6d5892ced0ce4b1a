import { test } from 'node:test'
import assert from 'node:assert/strict'
import * as dagJson from '@ipld/dag-json'
import { CID } from 'multiformats/cid'
import { Wallet } from 'ethers'
import { createManifest, decodeManifest, encodeManifest, encodeUnsigned, manifestCid, signManifest, verifyManifest, MAX_MANIFEST_BYTES } from '../src/manifest.ts'
import type { Manifest } from '../src/manifest.ts'
import { BadManifestError, BadSignatureError } from '../src/errors.ts'

const publisher = Wallet.createRandom()
const root = CID.parse('bafybeihsvbybdglihddhrkfi7elxiorsjfkfshzqws6fma65ybpju3grcu')
const fields = { contentId: '0x' + 'AB'.repeat(32), name: 'clip.mp4', mime: 'video/mp4', size: 123456, chunkSize: 262144, root, publisher: publisher.address.toLowerCase() }

async function signed (): Promise<Manifest> {
  return await signManifest(createManifest(fields), publisher)
}

/** Re-encodes a manifest after `edit`, keeping the original signature. */
function tampered (manifest: Manifest, edit: (value: Record<string, unknown>) => void): Uint8Array {
  const value: Record<string, unknown> = { ...manifest }
  edit(value)
  return dagJson.encode(value)
}

test('build, sign, encode, decode and verify', async () => {
  const manifest = await signed()
  assert.equal(manifest.v, 1)
  assert.equal(manifest.cipher, 'aes-256-gcm/hkdf-sha256/v1')
  assert.equal(manifest.keyVersion, 1)
  assert.equal(manifest.contentId, fields.contentId.toLowerCase(), 'content id is normalised to lower case')
  assert.equal(manifest.publisher, publisher.address, 'publisher is normalised to EIP-55')
  const bytes = encodeManifest(manifest)
  const decoded = decodeManifest(bytes)
  assert.deepEqual(encodeManifest(decoded), bytes)
  assert.ok((await manifestCid(bytes)).equals(await manifestCid(encodeManifest(decoded))))
  assert.ok(!new TextDecoder().decode(encodeUnsigned(manifest)).includes('signature'))
})

test('only the publisher can sign', async () => {
  await assert.rejects(signManifest(createManifest(fields), Wallet.createRandom()), BadSignatureError)
})

test('any change to a signed field breaks the signature', async () => {
  const manifest = await signed()
  const edits: Array<[string, (v: Record<string, unknown>) => void]> = [
    ['size', v => { v.size = 123457 }],
    ['name', v => { v.name = 'other.mp4' }],
    ['mime', v => { v.mime = 'video/webm' }],
    ['root', v => { v.root = CID.parse('bafkreibaozmpvz7zwu4mt3e6aqpx7frpl2pwfwya2p3ocf36rhv3kvgnni') }],
    ['keyVersion', v => { v.keyVersion = 2 }],
    ['chunkSize', v => { v.chunkSize = 1048576 }],
    ['publisher', v => { v.publisher = Wallet.createRandom().address }]
  ]
  for (const [name, edit] of edits) {
    assert.throws(() => decodeManifest(tampered(manifest, edit)), BadSignatureError, name)
  }
  assert.throws(() => { verifyManifest({ ...manifest, signature: '0x' + '00'.repeat(65) }) }, BadSignatureError)
})

test('unknown version, unknown cipher, missing, extra or ill-typed fields are refused with a clear message', async () => {
  const manifest = await signed()
  const cases: Array<[RegExp, (v: Record<string, unknown>) => void]> = [
    [/version 2 is not supported/, v => { v.v = 2 }],
    [/cipher "chacha20" is not supported/, v => { v.cipher = 'chacha20' }],
    [/manifest\.root/, v => { delete v.root }],
    [/manifest\.signature/, v => { delete v.signature }],
    [/manifest\.contentId/, v => { v.contentId = '0x1234' }],
    [/manifest\.size/, v => { v.size = -1 }],
    [/manifest\.chunkSize/, v => { v.chunkSize = 10 }],
    [/manifest\.publisher/, v => { v.publisher = 'alice' }],
    [/manifest\.mime/, v => { v.mime = 'not a mime' }],
    [/manifest/, v => { v.extra = true }],
    [/manifest\.root/, v => { v.root = 'bafy-not-a-link' }]
  ]
  for (const [message, edit] of cases) {
    assert.throws(() => decodeManifest(tampered(manifest, edit)), (err: unknown) => err instanceof BadManifestError && message.test(err.message), message.source)
  }
  assert.throws(() => decodeManifest(new TextEncoder().encode('{not json')), BadManifestError)
  assert.throws(() => decodeManifest(new TextEncoder().encode('[]')), BadManifestError)
  assert.throws(() => decodeManifest(new Uint8Array(MAX_MANIFEST_BYTES + 1)), /at most/)
})
