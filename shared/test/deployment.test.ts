import { test } from 'node:test'
import assert from 'node:assert/strict'
import { ErrorCode, parseDeployment } from '../src/index.ts'

const address = (n: number): string => `0x${n.toString(16).padStart(40, '0')}`
const good = { chainId: 31337, token: address(1), registry: address(2), pool: address(3), pass: address(4), deployer: address(5), blockNumber: 9 }

test('a deployment file parses with checksummed addresses; optional tokens stay optional', () => {
  const lower = { ...good, token: '0x' + 'ab'.repeat(20) }
  const parsed = parseDeployment(lower, 'deployment.json')
  assert.equal(parsed.token, '0xABaBaBaBABabABabAbAbABAbABabababaBaBABaB')
  assert.equal(parsed.pass, address(4))
  assert.equal('badges' in parsed, false)
})

test('a malformed deployment file is refused naming the file and the field', () => {
  const cases: Array<[unknown, RegExp]> = [
    [null, /f\.json: not a deployment/],
    [[], /no chainId/],
    [{ ...good, chainId: '31337' }, /f\.json: no chainId/],
    [{ ...good, chainId: 1.5 }, /no chainId/],
    [{ ...good, registry: undefined }, /no registry address/],
    [{ ...good, pool: '0x1234' }, /no pool address/],
    [{ ...good, badges: 7 }, /no badges address/],
    [{ ...good, deployer: undefined }, /no deployer address/],
    [{ ...good, blockNumber: -1 }, /no blockNumber/]
  ]
  for (const [raw, message] of cases) {
    assert.throws(() => parseDeployment(raw, 'f.json'), (err: { code: number, message: string }) => {
      assert.equal(err.code, ErrorCode.BAD_CONFIG)
      assert.match(err.message, message)
      return true
    })
  }
})
