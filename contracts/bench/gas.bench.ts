/**
 * Gas per receipt of `RewardPool.claim` for batches of 1, 10 and 50, next to the naive baseline
 * (`NaiveReceiptPool`: one signature check and one fresh nonce slot per receipt), measured on
 * the same anvil in the same run. Prints the results table and appends the run to
 * `bench/results/gas.json`.
 *
 *   npm run bench:gas -w contracts [-- --runs 7]
 */
import { execFileSync } from 'node:child_process'
import { join } from 'node:path'
import { ContractFactory } from 'ethers'
import type { Wallet } from 'ethers'
import type { Contract, ContractTransactionResponse, TransactionReceipt } from 'ethers'
import { signReceipt } from '@peerloom/shared/eip712'
import type { Receipt } from '@peerloom/shared/eip712'
import { anvilBinary } from '../src/chain.ts'
import { buildClaim } from '../src/claim.ts'
import { CONTRACTS_DIR } from '../src/compile.ts'
import { EVM_VERSION, OPTIMIZER_RUNS } from '../src/constants.ts'
import { appendRun, describeCheckout } from '../../shared/bench/results-log.ts'
import { TOKEN, randomClients, registerContent, signedReceipt, startFixture } from '../test/fixture.ts'
import type { Fixture } from '../test/fixture.ts'

const SIZES = [1, 10, 50]
const RUNS = Number(process.argv[process.argv.indexOf('--runs') + 1] ?? 5) || 5
const RATE = 1_000_000n
/** Grants allow 256 MiB; receipts report a random 1 to 16 MiB, so calldata is not flattered by round numbers. */
const MAX_BYTES = 256n * 1_048_576n
const randomByteCount = (): bigint => 1_048_576n + BigInt(Math.floor(Math.random() * 15 * 1_048_576))

interface Measure { gasUsed: bigint, calldataBytes: number }

async function mined (tx: Promise<ContractTransactionResponse>): Promise<TransactionReceipt> {
  const receipt = await (await tx).wait()
  if (receipt === null || receipt.status !== 1) throw new Error('transaction failed')
  return receipt
}

/** One claim of `size` receipts spread over `contents`, from `server`, for a fresh epoch. */
async function claimOnce (f: Fixture, server: Wallet, epoch: bigint, contents: string[], size: number): Promise<Measure> {
  const clients = randomClients(size)
  const items = await Promise.all(clients.map(async (client, i) =>
    await signedReceipt(f, { client, server: server.address, contentId: contents[i % contents.length] as string, epoch, bytes: randomByteCount(), maxBytes: MAX_BYTES })))
  const { claims } = buildClaim(items)
  const pool = f.at('RewardPool', f.deployment.pool, server)
  const receipt = await mined(pool.getFunction('claim')(epoch, server.address, claims) as Promise<ContractTransactionResponse>)
  const tx = await f.provider.getTransaction(receipt.hash)
  return { gasUsed: receipt.gasUsed, calldataBytes: ((tx?.data.length ?? 2) - 2) / 2 }
}

async function naiveClaimOnce (f: Fixture, naive: Contract, server: Wallet, epoch: bigint, contentId: string, size: number): Promise<Measure> {
  const clients = randomClients(size)
  const receipts = await Promise.all(clients.map(async client => {
    const receipt: Receipt = { server: server.address, client: client.address, contentId, epoch, bytes: randomByteCount() }
    return {
      receipt: { server: receipt.server, client: receipt.client, contentId, epoch, byteCount: receipt.bytes },
      signature: await signReceipt(client, { ...f.domain, verifyingContract: await naive.getAddress() }, receipt)
    }
  }))
  const receipt = await mined((naive.connect(server) as Contract).getFunction('claim')(receipts) as Promise<ContractTransactionResponse>)
  const tx = await f.provider.getTransaction(receipt.hash)
  return { gasUsed: receipt.gasUsed, calldataBytes: ((tx?.data.length ?? 2) - 2) / 2 }
}

function median (values: bigint[]): bigint {
  const sorted = [...values].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))
  const mid = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[mid] as bigint : ((sorted[mid - 1] as bigint) + (sorted[mid] as bigint)) / 2n
}

const fmt = (n: bigint | number): string => Number(n).toLocaleString('en-US')

const startedAt = new Date()
const f = await startFixture()
try {
  const { artifacts } = f
  const server = f.server
  // plenty of budget so no claim runs dry
  await (await f.token.getFunction('mint')(f.publisher.address, 10n ** 12n * TOKEN)).wait()
  const contents: string[] = []
  for (let i = 0; i < 50; i++) contents.push(await registerContent(f, { ratePerByte: RATE, budget: 10n ** 9n * TOKEN }))

  const naiveFactory = new ContractFactory(artifacts.contracts.NaiveReceiptPool.abi, artifacts.contracts.NaiveReceiptPool.bytecode, f.deployer)
  const naive = await (await naiveFactory.deploy(f.deployment.token, RATE)).waitForDeployment() as unknown as Contract
  await (await f.token.getFunction('mint')(await naive.getAddress(), 10n ** 12n * TOKEN)).wait()

  let epoch = 1n
  // warm up: the server's first claim also creates its token balance and its settled-epoch word
  const cold = await claimOnce(f, server, epoch++, contents.slice(0, 1), 50)
  await naiveClaimOnce(f, naive, server, epoch++, contents[0] as string, 1)

  interface Row { label: string, size: number, pool: bigint, naive?: bigint, calldata: number, naiveCalldata?: number }
  const rows: Row[] = []
  for (const size of SIZES) {
    const poolGas: bigint[] = []
    const naiveGas: bigint[] = []
    let calldata = 0
    let naiveCalldata = 0
    for (let run = 0; run < RUNS; run++) {
      const m = await claimOnce(f, server, epoch++, contents.slice(0, 1), size)
      poolGas.push(m.gasUsed)
      calldata = m.calldataBytes
      const n = await naiveClaimOnce(f, naive, server, epoch++, contents[0] as string, size)
      naiveGas.push(n.gasUsed)
      naiveCalldata = n.calldataBytes
    }
    rows.push({ label: `${size}, one content`, size, pool: median(poolGas), naive: median(naiveGas), calldata, naiveCalldata })
  }
  for (const spread of [5, 50]) {
    const gas: bigint[] = []
    let calldata = 0
    for (let run = 0; run < RUNS; run++) {
      const m = await claimOnce(f, server, epoch++, contents.slice(0, spread), 50)
      gas.push(m.gasUsed)
      calldata = m.calldataBytes
    }
    rows.push({ label: `50, ${spread} contents`, size: 50, pool: median(gas), calldata })
  }
  rows.push({ label: '50, one content, first claim of a new server', size: 50, pool: cold.gasUsed, calldata: cold.calldataBytes })

  const header = '| batch | RewardPool gas/receipt | naive gas/receipt | RewardPool tx gas | naive tx gas | calldata bytes/receipt (pool / naive) |'
  const lines = [header, '|---|--:|--:|--:|--:|--:|']
  for (const r of rows) {
    const perReceipt = r.pool / BigInt(r.size)
    lines.push(`| ${r.label} | ${fmt(perReceipt)} | ${r.naive === undefined ? '' : fmt(r.naive / BigInt(r.size))} | ${fmt(r.pool)} | ${r.naive === undefined ? '' : fmt(r.naive)} | ${fmt(Math.round(r.calldata / r.size))}${r.naiveCalldata === undefined ? '' : ` / ${fmt(Math.round(r.naiveCalldata / r.size))}`} |`)
  }
  const anvilVersion = execFileSync(anvilBinary(), ['--version']).toString().split('\n')[0]?.trim() ?? 'anvil'
  const entry = await appendRun(join(CONTRACTS_DIR, 'bench', 'results', 'gas.json'), startedAt, {
    claimsPerRow: RUNS,
    solc: artifacts.compilerVersion,
    optimizerRuns: OPTIMIZER_RUNS,
    evmVersion: EVM_VERSION,
    anvil: anvilVersion,
    rows: rows.map(r => ({
      batch: r.label,
      receipts: r.size,
      poolGasPerReceipt: Number(r.pool / BigInt(r.size)),
      naiveGasPerReceipt: r.naive === undefined ? undefined : Number(r.naive / BigInt(r.size)),
      poolTxGas: Number(r.pool),
      naiveTxGas: r.naive === undefined ? undefined : Number(r.naive),
      poolCalldataBytesPerReceipt: Math.round(r.calldata / r.size),
      naiveCalldataBytesPerReceipt: r.naiveCalldata === undefined ? undefined : Math.round(r.naiveCalldata / r.size)
    }))
  })
  console.log(`${entry.date.slice(0, 16)}Z, ${describeCheckout(entry)}; median of ${RUNS} claims per row; solc ${artifacts.compilerVersion}, optimizer ${OPTIMIZER_RUNS} runs, evmVersion ${EVM_VERSION}; ${anvilVersion}\n`)
  console.log(lines.join('\n'))
  console.log('\nappended to bench/results/gas.json')
} finally {
  await f.stop()
}
