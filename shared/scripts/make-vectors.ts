/**
 * Writes the known-answer vectors in shared/vectors/ from fixed inputs. Run it only when the
 * format changes on purpose (`npm run vectors -w shared`); the tests check the committed files.
 */
import { writeFile } from 'node:fs/promises'
import { MemoryBlockstore } from 'blockstore-core'
import { Wallet } from 'ethers'
import { ChunkCipher, chunkAad, chunkNonce, deriveChunkKey } from '../src/cipher.ts'
import { importSealedFile } from '../src/content.ts'
import { createManifest, encodeManifest, encodeUnsigned, manifestCid, signManifest } from '../src/manifest.ts'
import { formatLink } from '../src/link.ts'
import { toHex, fromHex, toBase64url } from '../src/bytes.ts'

/** Deterministic bytes: byte i = (seed + i * 31) mod 256. */
function pattern (length: number, seed: number): Uint8Array {
  return Uint8Array.from({ length }, (_, i) => (seed + i * 31) & 0xff)
}

const contentKey = fromHex('0x000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f')
const contentId = fromHex('0x' + 'a5'.repeat(32))
const chunkKey = await globalThis.crypto.subtle.exportKey('raw', await deriveChunkKey(contentKey, contentId, true))
const cipher = await ChunkCipher.create(contentKey, contentId)

const chunkCases = [
  { index: 0, plaintext: new Uint8Array(0) },
  { index: 0, plaintext: pattern(1, 7) },
  { index: 1, plaintext: pattern(1024, 3) },
  { index: 2 ** 32 + 5, plaintext: pattern(100, 9) }
]
const chunks = []
for (const { index, plaintext } of chunkCases) {
  chunks.push({
    index,
    nonce: toHex(chunkNonce(index)),
    aad: toHex(chunkAad(contentId, index)),
    plaintext: toHex(plaintext),
    sealed: toHex(await cipher.seal(index, plaintext))
  })
}

const fileCases = [
  { size: 0, chunkSize: 1024 },
  { size: 2500, chunkSize: 1024 },
  { size: 3 * 1024, chunkSize: 1024 }
]
const files = []
for (const { size, chunkSize } of fileCases) {
  const blockstore = new MemoryBlockstore()
  const { root, chunks: count } = await importSealedFile([pattern(size, 1)], blockstore, { cipher, chunkSize })
  files.push({ plaintextPattern: '(1 + i*31) mod 256', size, chunkSize, chunks: count, root: root.toString() })
}

await writeFile(new URL('../vectors/chunk-cipher.json', import.meta.url), JSON.stringify({
  description: 'Peerloom chunk cipher v1 (aes-256-gcm/hkdf-sha256/v1) known-answer vectors. chunkKey = HKDF-SHA-256(IKM=contentKey, salt=contentId, info="peerloom/chunk/v1", L=32). sealed = AES-256-GCM(chunkKey, nonce, aad, plaintext) = ciphertext || 16-byte tag. files: the sealed chunks imported as UnixFS (CIDv1, raw leaves, balanced, 1024 links/node, fixed chunker chunkSize+16).',
  contentKey: toHex(contentKey),
  contentId: toHex(contentId),
  info: 'peerloom/chunk/v1',
  chunkKey: toHex(new Uint8Array(chunkKey)),
  chunks,
  files
}, null, 2) + '\n')

// A fixed, publicly known test key (never use it for anything real).
const publisher = new Wallet('0x' + '11'.repeat(32))
const manifest = await signManifest(createManifest({
  contentId: toHex(contentId),
  name: 'vector.bin',
  mime: 'application/octet-stream',
  size: 2500,
  chunkSize: 1024,
  root: (await importSealedFile([pattern(2500, 1)], new MemoryBlockstore(), { cipher, chunkSize: 1024 })).root,
  publisher: publisher.address
}), publisher)
const bytes = encodeManifest(manifest)
const cid = await manifestCid(bytes)
await writeFile(new URL('../vectors/manifest.json', import.meta.url), JSON.stringify({
  description: 'Peerloom manifest v1 vector. unsigned = dag-json of the manifest without "signature"; signature = EIP-191 personal_sign(unsigned) by publisherKey; manifestCid = CIDv1(dag-json, sha2-256) of the signed dag-json; link = peerloom://<manifestCid base32>#k=<contentKey base64url>.',
  publisherKey: publisher.privateKey,
  publisher: publisher.address,
  unsigned: new TextDecoder().decode(encodeUnsigned(manifest)),
  signature: manifest.signature,
  signed: new TextDecoder().decode(bytes),
  manifestCid: cid.toString(),
  contentKeyBase64url: toBase64url(contentKey),
  link: formatLink({ manifest: cid, key: contentKey })
}, null, 2) + '\n')
console.log('wrote shared/vectors/chunk-cipher.json and shared/vectors/manifest.json')
