/** The relay's libp2p identity, kept in its data directory so its peer id survives restarts. */
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'
import { ConfigError } from '@peerloom/shared/errors'
import { DATA_FILES } from './constants.ts'

/** Reads `<dir>/identity.key`, creating an Ed25519 key there on first use. */
export async function loadOrCreateIdentity (dir: string): Promise<PrivateKey> {
  const file = join(dir, DATA_FILES.identity)
  let bytes: Uint8Array
  try {
    bytes = await readFile(file)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new ConfigError(`cannot read the relay identity ${file}: ${(err as Error).message}`, { cause: err })
    const key = await generateKeyPair('Ed25519')
    await mkdir(dir, { recursive: true })
    // 'wx' fails rather than overwrite a key another process wrote meanwhile
    await writeFile(file, privateKeyToProtobuf(key), { mode: 0o600, flag: 'wx' })
    return key
  }
  try {
    return privateKeyFromProtobuf(bytes)
  } catch (err) {
    throw new ConfigError(`${file} is not a libp2p private key; move it away to create a new identity`, { cause: err })
  }
}
