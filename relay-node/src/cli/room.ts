/**
 * `peerloom room create`: registers a token-gated call room (docs/CALLS.md) for an origin's
 * key service: a fresh room key as key version 1 in the origin's data directory, and the room
 * in the ContentRegistry with its access policy, reward rate and budget. Prints
 * `{"room","topic","keyVersion","registration"}`. Exit 0, 2 for bad options, 1 when the chain fails.
 */
import { readFile } from 'node:fs/promises'
import { ConfigError, fromHex, isPeerloomError, randomBytes, toHex } from '@peerloom/shared'
import { describeError, parseOptions } from './args.ts'
import type { Stdio } from './relay.ts'

export const ROOM_USAGE = `Usage: peerloom room create --policy <p> --data <dir> --rpc <url> --deployment <file> [options]

Registers a token-gated call room: a content id in the ContentRegistry with an access
policy, whose key the origin's key service grants to holders (and takes back from holders
whose balance drops: it re-keys the room). Pages join it with peerloom.call.join(<room id>).
Prints {"room","topic","keyVersion","registration"} as JSON on stdout.

  --policy <p>          who may join: erc20:ADDR:MIN, erc721:ADDR[:MIN], erc1155:ADDR:ID:MIN
                        (public works too, for a room that only pays forwarders)
  --data <dir>          the origin's data directory (PEERLOOM_DATA): the room key is stored there
  --rpc <url>           the chain's JSON-RPC URL (PEERLOOM_RPC)
  --deployment <file>   deployment JSON with the registry address (PEERLOOM_DEPLOYMENT)
  --key-file <file>     the publisher's key (PEERLOOM_PUBLISHER_KEY_FILE, or PEERLOOM_PUBLISHER_KEY
                        holding the key itself); the origin's --publisher-key-file must be the same
  --content-id <0x…>    the room id, 32 bytes (default: random)
  --rate <units>        reward per forwarded byte, in token base units (default 1)
  --budget <amount>     tokens moved into the room's reward budget: base units, or e.g. 100LOOM (default 0)
  --budget-days <n>     days before the publisher may withdraw what is left (default 30)
  --grant-bytes <n>     forwarded bytes one holder's grant may be receipted for (default 8 GiB)
`

const ROOM_OPTIONS = {
  policy: { type: 'string' },
  data: { type: 'string' },
  rpc: { type: 'string' },
  deployment: { type: 'string' },
  'key-file': { type: 'string' },
  'content-id': { type: 'string' },
  rate: { type: 'string' },
  budget: { type: 'string' },
  'budget-days': { type: 'string' },
  'grant-bytes': { type: 'string' },
  help: { type: 'boolean' }
} as const

/** Runs `peerloom room <subcommand>`; resolves with the exit status. */
export async function runRoom (argv: string[], env: NodeJS.ProcessEnv, io: Stdio): Promise<number> {
  const [sub, ...rest] = argv
  if (sub === '--help' || sub === '-h' || sub === 'help' || sub === undefined) {
    ;(sub === undefined ? io.stderr : io.stdout)(ROOM_USAGE)
    return sub === undefined ? 2 : 0
  }
  if (sub !== 'create') {
    io.stderr(`peerloom room: unknown subcommand "${sub}"; the one there is: create\n${ROOM_USAGE}`)
    return 2
  }
  let values: Record<string, string | boolean | undefined>
  try {
    ({ values } = parseOptions(rest, ROOM_OPTIONS, 'peerloom room create', false) as { values: Record<string, string | boolean | undefined> })
  } catch (err) {
    io.stderr(`peerloom room create: ${describeError(err)}`)
    return 2
  }
  if (values.help === true) {
    io.stdout(ROOM_USAGE)
    return 0
  }
  const [{ Registry, loadDeployment, parsePolicy }, { KeyStore }, { registerRoom, DEFAULT_ROOM_GRANT_BYTES }, { amountOf }, { assertOriginData, signerFromHex }] = await Promise.all([
    import('../keys/registry.ts'), import('../keys/key-store.ts'), import('../keys/rooms.ts'), import('../keys/publish-chain.ts'), import('../publish.ts')
  ])
  let prepared: Parameters<typeof registerRoom>[0]
  try {
    const dir = (values.data as string | undefined) ?? env.PEERLOOM_DATA
    const rpc = (values.rpc as string | undefined) ?? env.PEERLOOM_RPC
    const deploymentFile = (values.deployment as string | undefined) ?? env.PEERLOOM_DEPLOYMENT
    if (values.policy === undefined) throw new ConfigError('--policy is required: who may join the room (e.g. erc721:0x… for holders of an NFT)')
    if (dir === undefined) throw new ConfigError('--data <origin data dir> is required: the room key is stored there for the origin\'s key service')
    if (rpc === undefined || deploymentFile === undefined) throw new ConfigError('a room is registered on chain: pass --rpc <url> and --deployment <file> (or PEERLOOM_RPC and PEERLOOM_DEPLOYMENT)')
    if (!/^https?:\/\//.test(rpc)) throw new ConfigError(`--rpc: must be an http:// or https:// URL (got ${JSON.stringify(rpc)})`)
    await assertOriginData(dir)
    const policy = parsePolicy(values.policy as string)
    let roomId = toHex(randomBytes(32))
    if (values['content-id'] !== undefined) {
      try {
        roomId = toHex(fromHex(values['content-id'] as string, 32, 'content id'))
      } catch (err) {
        throw new ConfigError(`--content-id: ${(err as Error).message} (32 bytes as 0x-hex)`)
      }
    }
    const budgetDays = values['budget-days'] === undefined ? 30 : Number(values['budget-days'])
    if (!Number.isInteger(budgetDays) || budgetDays < 1 || budgetDays > 3650) throw new ConfigError(`--budget-days: must be a whole number of days from 1 to 3650 (got ${JSON.stringify(values['budget-days'])})`)
    const grantText = values['grant-bytes'] as string | undefined
    if (grantText !== undefined && (!/^\d{1,20}$/.test(grantText) || BigInt(grantText) === 0n)) throw new ConfigError(`--grant-bytes: must be a whole number of bytes above 0 (got ${JSON.stringify(grantText)})`)
    const keyFile = (values['key-file'] as string | undefined) ?? env.PEERLOOM_PUBLISHER_KEY_FILE
    let keyText = env.PEERLOOM_PUBLISHER_KEY
    if (keyFile !== undefined) {
      try {
        keyText = await readFile(keyFile, 'utf8')
      } catch (err) {
        throw new ConfigError(`--key-file: cannot read ${keyFile}: ${(err as Error).message}`)
      }
    }
    if (keyText === undefined) throw new ConfigError('a publisher key is needed to register the room: pass --key-file FILE or set PEERLOOM_PUBLISHER_KEY (32 bytes as hex)')
    prepared = {
      keys: new KeyStore(dir),
      registry: new Registry(rpc, await loadDeployment(deploymentFile)),
      publisher: signerFromHex(keyText, keyFile === undefined ? 'PEERLOOM_PUBLISHER_KEY' : `--key-file ${keyFile}`),
      roomId,
      policy,
      ratePerByte: values.rate === undefined ? 1n : amountOf(values.rate as string, '--rate'),
      budget: values.budget === undefined ? 0n : amountOf(values.budget as string, '--budget'),
      budgetDays,
      grantBytes: grantText === undefined ? DEFAULT_ROOM_GRANT_BYTES : BigInt(grantText)
    }
  } catch (err) {
    io.stderr(`peerloom room create: ${describeError(err)}`)
    return 2
  }
  try {
    const registered = await registerRoom(prepared)
    io.stderr(`registered room ${registered.room} (${registered.registration.policy}) with key version 1 on chain ${registered.registration.chainId}: ${registered.registration.tx}`)
    io.stdout(JSON.stringify(registered))
    return 0
  } catch (err) {
    io.stderr(`peerloom room create: ${describeError(err)}`)
    return isPeerloomError(err) && err.name === 'ConfigError' ? 2 : 1
  }
}
