/**
 * @peerloom/contracts: Peerloom's Solidity contracts, compiled with solc-js, and the tools to run
 * them on a real local chain (anvil) for tests and the devnet.
 *
 * - `startChain()` starts anvil on loopback; `deployAll()` deploys token, registry and pool;
 *   `writeDeployment()` records the addresses (ABIs live in `@peerloom/shared`, `src/abi/`).
 * - `buildClaim()` turns signed receipts and grants into `RewardPool.claim` arguments; it is
 *   also available browser-safe as `@peerloom/contracts/claim`.
 */
export { startChain, deployAll, writeDeployment, readDeployment, anvilBinary } from './chain.ts'
export type { Chain, StartChainOptions, DeployOptions } from './chain.ts'
export type { Deployment } from '@peerloom/shared'
export { buildClaim, compareHex } from './claim.ts'
export type { Claim, ContentClaim, ClaimReceipt, SignedReceiptWithGrant } from './claim.ts'
export { loadArtifacts, compileContracts } from './compile.ts'
export type { Artifact, ArtifactSet } from './compile.ts'
export { EVM_VERSION, DEFAULT_CHAIN_ID } from './constants.ts'
