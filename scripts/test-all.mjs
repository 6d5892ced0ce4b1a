#!/usr/bin/env node
// Runs every check and test in the repository: type-check, lint, knip, each package's tests, then
// the end-to-end suite with real Chromium. The whole run happens inside a loopback-only
// network namespace when the machine allows one (root + unshare), so no test can reach
// anything but 127.0.0.1. Exits non-zero if any step fails; prints "N passed, N failed" last.
import { spawn, spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))
const only = process.argv.slice(2)

if (process.env.PEERLOOM_NETNS === undefined && process.platform === 'linux') {
  const probe = spawnSync('unshare', ['-n', 'sh', '-c', 'ip link set lo up'], { stdio: 'ignore' })
  if (probe.status === 0) {
    const self = fileURLToPath(import.meta.url)
    const args = [self, ...only].map(a => `'${a.replaceAll("'", "'\\''")}'`).join(' ')
    const child = spawn('unshare', ['-n', 'sh', '-c', `ip link set lo up && exec "${process.execPath}" ${args}`], { stdio: 'inherit', env: { ...process.env, PEERLOOM_NETNS: 'loopback' } })
    child.on('exit', code => process.exit(code ?? 1))
    await new Promise(() => {})
  }
  console.log('note: no loopback-only network namespace here (needs root and unshare); running on the normal network, tests still target 127.0.0.1 only')
}

/** Each step: a name, a command, and how to count its tests from its output. */
const steps = [
  { name: 'typecheck', cmd: ['npm', 'run', 'typecheck'] },
  { name: 'lint', cmd: ['npm', 'run', 'lint'] },
  // the extension's folders import one way only (scripts/floors.mjs)
  { name: 'floors', cmd: ['npm', 'run', 'floors'] },
  // package manifests match the imports, and nothing exported goes unused (knip.json)
  { name: 'knip', cmd: ['npx', '--no-install', 'knip'] },
  // by package name: `-w extension` would also select the nested extension/sdk workspace
  ...[['shared', '@peerloom/shared'], ['contracts', '@peerloom/contracts'], ['relay-node', '@peerloom/relay-node'], ['extension', '@peerloom/extension'], ['extension/sdk', '@peerloom/sdk']]
    .map(([dir, pkg]) => ({ name: dir, cmd: ['npm', 'test', '-w', pkg], when: () => existsSync(`${root}/${dir}/test`) })),
  { name: 'devnet', cmd: ['npm', 'start', '--', '--check', '--fresh', '--state', '.tmp/devnet-check'] },
  { name: 'e2e', cmd: ['npm', 'test', '-w', '@peerloom/e2e'], when: () => existsSync(`${root}/e2e/playwright.config.ts`) }
].filter(step => only.length === 0 || only.includes(step.name))

function count (output) {
  let passed = 0
  let failed = 0
  for (const m of output.matchAll(/^(?:#|ℹ) pass (\d+)$/gm)) passed += Number(m[1])
  for (const m of output.matchAll(/^(?:#|ℹ) fail (\d+)$/gm)) failed += Number(m[1])
  for (const m of output.matchAll(/^\s+(\d+) passed\b/gm)) passed += Number(m[1])
  for (const m of output.matchAll(/^\s+(\d+) (failed|flaky)\b/gm)) failed += Number(m[1])
  return { passed, failed }
}

const results = []
for (const step of steps) {
  if (step.when !== undefined && !step.when()) {
    results.push({ name: step.name, status: 'absent' })
    continue
  }
  console.log(`\n=== ${step.name}: ${step.cmd.join(' ')}`)
  const started = Date.now()
  const output = await new Promise(resolve => {
    const child = spawn(step.cmd[0], step.cmd.slice(1), { cwd: root, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, FORCE_COLOR: '0' } })
    let text = ''
    child.stdout.on('data', d => { process.stdout.write(d); text += d })
    child.stderr.on('data', d => { process.stderr.write(d); text += d })
    child.on('exit', code => resolve({ text, code }))
  })
  results.push({ name: step.name, status: output.code === 0 ? 'ok' : 'FAILED', seconds: Math.round((Date.now() - started) / 1000), ...count(output.text) })
}

console.log('\n=== summary')
let passed = 0
let failed = 0
for (const r of results) {
  if (r.status === 'absent') continue
  passed += r.passed
  failed += r.failed + (r.status === 'FAILED' && r.failed === 0 ? 1 : 0)
  console.log(`${r.status.padEnd(7)} ${r.name.padEnd(11)} ${String(r.seconds).padStart(4)} s  ${r.passed} passed, ${r.failed} failed`)
}
console.log(`${passed} passed, ${failed} failed`)
process.exit(results.some(r => r.status === 'FAILED') ? 1 : 0)
