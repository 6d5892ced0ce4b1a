/**
 * `npm run compile -w contracts`: compiles the contracts into `artifacts/` and writes the ABIs
 * other workspaces read to `shared/src/abi/`. With `--if-stale` it reuses `artifacts/` when the
 * sources have not changed (the test suite's pretest step).
 */
import { join } from 'node:path'
import { compileContracts, loadArtifacts, ARTIFACTS_FILE, CONTRACTS_DIR, writeAtomically } from '../src/compile.ts'
import { SHARED_ABI_NAMES } from '../src/constants.ts'

/** Where the relay and the extension read ABIs from (`@peerloom/shared`). */
export const SHARED_ABI_DIR = join(CONTRACTS_DIR, '..', 'shared', 'src', 'abi')

const started = performance.now()
const ifStale = process.argv.includes('--if-stale')
const artifacts = ifStale ? await loadArtifacts() : await compileContracts()
if (!ifStale) await writeAtomically(ARTIFACTS_FILE, JSON.stringify(artifacts))
for (const name of SHARED_ABI_NAMES) {
  await writeAtomically(join(SHARED_ABI_DIR, `${name}.json`), `${JSON.stringify(artifacts.contracts[name].abi, null, 2)}\n`)
}
const seconds = ((performance.now() - started) / 1000).toFixed(1)
console.log(`${Object.keys(artifacts.contracts).length} contracts ready (solc ${artifacts.compilerVersion}, ${seconds} s); ABIs in ${SHARED_ABI_DIR}`)
