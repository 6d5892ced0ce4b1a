/**
 * The deployment file: the chain and the contract addresses of one deployment, as `contracts`
 * writes it (`writeDeployment`) and the origin, the publisher's CLI and the devnet read it.
 */
import { getAddress, isAddress } from 'ethers'
import { ConfigError } from './errors.ts'

/** Addresses of a deployment. ABIs are in `@peerloom/shared/abi/*.json`. */
export interface Deployment {
  chainId: number
  /** PeerloomToken: the reward ERC-20; the deployer owns it and can mint. */
  token: string
  /** ContentRegistry: content, access policies and reward budgets. */
  registry: string
  /** RewardPool: claims; the EIP-712 `verifyingContract` of receipts and grants. */
  pool: string
  /** DevnetPass (ERC-721), owned by the deployer; absent without the devnet tokens. */
  pass?: string
  /** DevnetBadges (ERC-1155), owned by the deployer; absent without the devnet tokens. */
  badges?: string
  deployer: string
  /** Block of the last deployment transaction: where indexers can start. */
  blockNumber: number
}

/**
 * Checks a parsed deployment file; addresses come back checksummed. Throws ConfigError naming
 * `source` (e.g. the file) and the first field that is missing or malformed.
 */
export function parseDeployment (raw: unknown, source: string): Deployment {
  if (typeof raw !== 'object' || raw === null) throw new ConfigError(`${source}: not a deployment (a JSON object)`)
  const fields = raw as Record<string, unknown>
  const address = (key: string): string => {
    const value = fields[key]
    if (typeof value !== 'string' || !isAddress(value)) throw new ConfigError(`${source}: no ${key} address`)
    return getAddress(value)
  }
  const count = (key: string): number => {
    const value = fields[key]
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) throw new ConfigError(`${source}: no ${key}`)
    return value
  }
  return {
    chainId: count('chainId'),
    token: address('token'),
    registry: address('registry'),
    pool: address('pool'),
    ...(fields.pass === undefined ? {} : { pass: address('pass') }),
    ...(fields.badges === undefined ? {} : { badges: address('badges') }),
    deployer: address('deployer'),
    blockNumber: count('blockNumber')
  }
}
