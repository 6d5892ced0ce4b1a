/**
 * @peerloom/shared — the formats every part of Peerloom must agree on: the chunk cipher,
 * whole-file sealing and range opening, the manifest, the link, EIP-712 receipts and grants,
 * errors with stable codes, and configuration schemas.
 *
 * @example
 * ```ts
 * import { ChunkCipher, importSealedFile, createManifest, signManifest, formatLink } from '@peerloom/shared'
 * ```
 */
export * from './errors.ts'
export * from './bytes.ts'
export * from './cipher.ts'
export * from './content.ts'
export * from './range.ts'
export * from './manifest.ts'
export * from './link.ts'
export * from './eip712.ts'
export * from './protocols.ts'
export { parseConfig } from './config/parse.ts'
export * from './config/relay.ts'
export * from './config/node.ts'
export * from './block.ts'
export * from './gateway.ts'
export * from './token-bucket.ts'
export * from './response.ts'
export * from './page-api.ts'
export * from './keys.ts'
export * from './rewards.ts'
export * from './deployment.ts'
