/** The EVM version the contracts are compiled for; anvil runs the same hardfork. */
export const EVM_VERSION = 'prague'

/** Optimizer runs: the pool's claim loop is what matters, so optimise for execution. */
export const OPTIMIZER_RUNS = 10_000

/** anvil's chain id (also Hardhat's). */
export const DEFAULT_CHAIN_ID = 31337

/** How long `startChain` waits for anvil to listen. */
export const DEFAULT_START_TIMEOUT_MS = 15_000

/** Contracts the compiler emits, by name. */
export const CONTRACT_NAMES = [
  'PeerloomToken',
  'ContentRegistry',
  'RewardPool',
  'DevnetPass',
  'DevnetBadges',
  'NaiveReceiptPool'
] as const

export type ContractName = (typeof CONTRACT_NAMES)[number]

/** Contracts whose ABIs other workspaces read from `@peerloom/shared` (`shared/src/abi/`). */
export const SHARED_ABI_NAMES = ['PeerloomToken', 'ContentRegistry', 'RewardPool'] as const satisfies readonly ContractName[]
