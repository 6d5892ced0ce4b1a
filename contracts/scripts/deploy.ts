/**
 * Deploys Peerloom's contracts and writes the deployment (addresses and chain id) as JSON.
 *
 *   npm run deploy -w contracts -- --rpc http://127.0.0.1:8545 --out .devnet/deployment.json
 *
 * Options:
 *   --rpc URL             JSON-RPC endpoint (required)
 *   --out FILE            where to write the deployment JSON (required)
 *   --key HEX             deployer private key; default: $PEERLOOM_DEPLOYER_KEY, else the
 *                         node's first unlocked account (anvil's dev accounts are unlocked)
 *   --mint ADDRESS=AMOUNT mint AMOUNT whole tokens to ADDRESS (repeatable)
 *   --no-devnet-tokens    skip the devnet ERC-721 pass and ERC-1155 badges
 */
import { parseArgs } from 'node:util'
import { JsonRpcProvider, Wallet, getAddress, parseUnits } from 'ethers'
import type { Signer } from 'ethers'
import { deployAll, writeDeployment } from '../src/chain.ts'

const { values } = parseArgs({
  options: {
    rpc: { type: 'string' },
    out: { type: 'string' },
    key: { type: 'string' },
    mint: { type: 'string', multiple: true },
    'no-devnet-tokens': { type: 'boolean' }
  },
  strict: true
})

if (values.rpc === undefined || values.out === undefined) {
  console.error('usage: npm run deploy -w contracts -- --rpc URL --out FILE [--key HEX] [--mint ADDRESS=AMOUNT] [--no-devnet-tokens]')
  process.exit(2)
}

const mint = (values.mint ?? []).map(spec => {
  const [address, amount] = spec.split('=')
  if (address === undefined || amount === undefined) {
    console.error(`--mint expects ADDRESS=AMOUNT, got ${spec}`)
    process.exit(2)
  }
  return { to: getAddress(address), amount: parseUnits(amount, 18) }
})

const provider = new JsonRpcProvider(values.rpc, undefined, { cacheTimeout: -1, pollingInterval: 100, batchMaxCount: 1 })
try {
  const key = values.key ?? process.env.PEERLOOM_DEPLOYER_KEY
  const signer: Signer = key === undefined ? await provider.getSigner(0) : new Wallet(key, provider)
  const deployment = await deployAll(signer, { mint, devnetTokens: values['no-devnet-tokens'] !== true })
  await writeDeployment(values.out, deployment)
  console.log(JSON.stringify(deployment))
} finally {
  provider.destroy()
}
