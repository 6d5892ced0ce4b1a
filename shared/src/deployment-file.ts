/**
 * Reading a deployment file from disk. This module is Node only (`node:fs`), so the package
 * index, which the extension bundles, does not export it: import it as
 * `@peerloom/shared/deployment-file`.
 */
import { readFile } from 'node:fs/promises'
import { parseDeployment } from './deployment.ts'
import type { Deployment } from './deployment.ts'
import { ConfigError } from './errors.ts'

/**
 * Reads and checks the deployment file `file` (contracts' `writeDeployment`). Errors are
 * ConfigErrors that start with `prefix` (e.g. the option that named the file, `--deployment: `).
 */
export async function readDeploymentFile (file: string, prefix = ''): Promise<Deployment> {
  let raw: unknown
  try {
    raw = JSON.parse(await readFile(file, 'utf8'))
  } catch (err) {
    throw new ConfigError(`${prefix}cannot read ${file}: ${(err as Error).message}`, { cause: err })
  }
  return parseDeployment(raw, `${prefix}${file}`)
}
