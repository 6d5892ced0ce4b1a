/**
 * The ABIs the relay and the extension read from @peerloom/shared (shared/src/abi/) are the
 * ones the contracts compile to: a contract change without `npm run compile -w contracts`
 * fails here.
 */
import assert from 'node:assert/strict'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { it } from 'node:test'
import { CONTRACTS_DIR, loadArtifacts } from '../src/compile.ts'
import { SHARED_ABI_NAMES } from '../src/constants.ts'

it('shared/src/abi holds the current ABIs of PeerloomToken, ContentRegistry and RewardPool', async () => {
  const artifacts = await loadArtifacts()
  for (const name of SHARED_ABI_NAMES) {
    const committed = JSON.parse(await readFile(join(CONTRACTS_DIR, '..', 'shared', 'src', 'abi', `${name}.json`), 'utf8')) as unknown
    assert.deepEqual(committed, artifacts.contracts[name].abi, `${name}.json is stale: run npm run compile -w contracts`)
  }
})
