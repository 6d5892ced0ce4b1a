/**
 * The install's one secp256k1 key: its libp2p peer id and the Ethereum address that will
 * sign receipts and receive rewards. Kept in IndexedDB; never leaves the extension.
 */
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import { logger } from '@libp2p/logger'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import type { PeerId, PrivateKey } from '@libp2p/interface'
import { Wallet, computeAddress, hexlify } from 'ethers'
import type { StateDb } from '../storage/state-db.ts'

const IDENTITY_KEY = 'identity'

export interface Identity {
  privateKey: PrivateKey
  peerId: PeerId
  /** EIP-55 address of the same key. */
  address: string
  createdAt: number
}

interface StoredIdentity {
  key: Uint8Array
  createdAt: number
}

function toIdentity (stored: StoredIdentity): Identity {
  const privateKey = privateKeyFromProtobuf(stored.key)
  if (privateKey.type !== 'secp256k1') throw new Error(`stored identity is a ${privateKey.type} key, expected secp256k1`)
  return {
    privateKey,
    peerId: peerIdFromPrivateKey(privateKey),
    address: computeAddress(hexlify(privateKey.publicKey.raw)),
    createdAt: stored.createdAt
  }
}

const log = logger('peerloom:identity')

/** Loads the install's identity, creating it on first use. */
export async function loadOrCreateIdentity (db: StateDb): Promise<Identity> {
  const stored = await db.get('kv', IDENTITY_KEY) as StoredIdentity | undefined
  if (stored !== undefined) return toIdentity(stored)
  const privateKey = await generateKeyPair('secp256k1')
  const fresh: StoredIdentity = { key: privateKeyToProtobuf(privateKey), createdAt: Date.now() }
  await db.put('kv', fresh, IDENTITY_KEY)
  const identity = toIdentity(fresh)
  log('created identity %p (%s)', identity.peerId, identity.address)
  return identity
}

/** Deletes the identity; the next start creates a new one. */
export async function deleteIdentity (db: StateDb): Promise<void> {
  await db.delete('kv', IDENTITY_KEY)
  log('deleted the identity')
}

/** An ethers signer for the identity's key (manifests now, receipts later). */
export function identitySigner (identity: Identity): Wallet {
  return new Wallet(hexlify(identity.privateKey.raw))
}
