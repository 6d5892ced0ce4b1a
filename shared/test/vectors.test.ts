/**
 * Known-answer vectors: this implementation must reproduce the committed files, and so must an
 * independent one (Node's own crypto module, not WebCrypto), so the vectors pin the format and
 * not merely this code.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createCipheriv, hkdfSync } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { MemoryBlockstore } from 'blockstore-core'
import { ChunkCipher, chunkAad, chunkNonce, deriveChunkKey } from '../src/cipher.ts'
import { importSealedFile } from '../src/content.ts'
import { decodeManifest, encodeUnsigned, manifestCid } from '../src/manifest.ts'
import { formatLink, parseLink } from '../src/link.ts'
import { fromHex, toHex } from '../src/bytes.ts'

const load = async (name: string): Promise<any> => JSON.parse(await readFile(new URL(`../vectors/${name}`, import.meta.url), 'utf8'))
const pattern = (length: number, seed: number): Uint8Array => Uint8Array.from({ length }, (_, i) => (seed + i * 31) & 0xff)

test('chunk key and sealed chunks match the vectors (WebCrypto implementation)', async () => {
  const v = await load('chunk-cipher.json')
  const key = await deriveChunkKey(fromHex(v.contentKey), fromHex(v.contentId), true)
  assert.equal(toHex(new Uint8Array(await crypto.subtle.exportKey('raw', key))), v.chunkKey)
  const cipher = await ChunkCipher.create(fromHex(v.contentKey), fromHex(v.contentId))
  for (const c of v.chunks) {
    assert.equal(toHex(chunkNonce(c.index)), c.nonce)
    assert.equal(toHex(chunkAad(fromHex(v.contentId), c.index)), c.aad)
    assert.equal(toHex(await cipher.seal(c.index, fromHex(c.plaintext))), c.sealed)
    assert.equal(toHex(await cipher.open(c.index, fromHex(c.sealed))), c.plaintext)
  }
})

test('an independent implementation (node:crypto) reproduces the vectors', async () => {
  const v = await load('chunk-cipher.json')
  const chunkKey = Buffer.from(hkdfSync('sha256', fromHex(v.contentKey), fromHex(v.contentId), Buffer.from(v.info, 'utf8'), 32))
  assert.equal(toHex(chunkKey), v.chunkKey)
  for (const c of v.chunks) {
    const nonce = Buffer.alloc(12)
    nonce.writeBigUInt64BE(BigInt(c.index), 4)
    const aad = Buffer.concat([Buffer.from(fromHex(v.contentId)), Buffer.alloc(8)])
    aad.writeBigUInt64BE(BigInt(c.index), 32)
    const gcm = createCipheriv('aes-256-gcm', chunkKey, nonce)
    gcm.setAAD(aad)
    const sealed = Buffer.concat([gcm.update(fromHex(c.plaintext)), gcm.final(), gcm.getAuthTag()])
    assert.equal(toHex(sealed), c.sealed)
  }
})

test('ciphertext files import to the vector root CIDs', async () => {
  const v = await load('chunk-cipher.json')
  const cipher = await ChunkCipher.create(fromHex(v.contentKey), fromHex(v.contentId))
  for (const f of v.files) {
    const result = await importSealedFile([pattern(f.size, 1)], new MemoryBlockstore(), { cipher, chunkSize: f.chunkSize })
    assert.equal(result.root.toString(), f.root)
    assert.equal(result.chunks, f.chunks)
  }
})

test('the manifest vector decodes, verifies and hashes to its CID; its link round-trips', async () => {
  const v = await load('manifest.json')
  const bytes = new TextEncoder().encode(v.signed)
  const manifest = decodeManifest(bytes)
  assert.equal(manifest.publisher, v.publisher)
  assert.equal(new TextDecoder().decode(encodeUnsigned(manifest)), v.unsigned)
  const cid = await manifestCid(bytes)
  assert.equal(cid.toString(), v.manifestCid)
  const link = parseLink(v.link)
  assert.ok(link.manifest.equals(cid))
  assert.equal(formatLink(link), v.link)
})
