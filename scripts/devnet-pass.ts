/**
 * `npm run devnet:pass -- ADDRESS`: on the running devnet, mints a DevnetPass (the ERC-721 that
 * gates the devnet's members-only content) to ADDRESS and gives it 10 ETH for gas, so a node
 * can open gated content and claim its rewards. ADDRESS is the node's address from the popup.
 *
 *   npm run devnet:pass -- 0xAbC…            (state in .devnet/)
 *   npm run devnet:pass -- 0xAbC… --state DIR
 */
import { readFile } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { Contract, JsonRpcProvider, Wallet, getAddress, isAddress, parseEther } from 'ethers'

const { values, positionals } = parseArgs({ allowPositionals: true, options: { state: { type: 'string', default: '.devnet' } } })
const state = resolve(import.meta.dirname, '..', values.state)
const address = positionals[0]
if (address === undefined || !isAddress(address)) {
  process.stderr.write('usage: npm run devnet:pass -- 0x<address of the node (popup)>\n')
  process.exit(2)
}
const chain = JSON.parse(await readFile(join(state, 'chain.json'), 'utf8')) as { rpcUrl: string, chainId: number, deployerKey: string }
const deployment = JSON.parse(await readFile(join(state, 'deployment.json'), 'utf8')) as { pass?: string }
if (deployment.pass === undefined) throw new Error(`${state}/deployment.json has no DevnetPass`)
const provider = new JsonRpcProvider(chain.rpcUrl, chain.chainId, { staticNetwork: true, batchMaxCount: 1, cacheTimeout: -1, pollingInterval: 100 })
const deployer = new Wallet(chain.deployerKey, provider)
const pass = new Contract(deployment.pass, ['function mint(address) returns (uint256)', 'function balanceOf(address) view returns (uint256)'], deployer)
await (await pass.getFunction('mint')(getAddress(address))).wait()
await (await deployer.sendTransaction({ to: getAddress(address), value: parseEther('10') })).wait()
process.stdout.write(`${getAddress(address)} now holds ${String(await pass.getFunction('balanceOf')(address))} DevnetPass and ${String(await provider.getBalance(address) / 10n ** 18n)} ETH\n`)
