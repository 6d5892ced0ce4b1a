#!/usr/bin/env node
// Keeps the machine's cores busy while a command runs, to show the tests wait for conditions
// and not for time: `node scripts/busy-cores.mjs -- npm test -- shared contracts`.
// One worker thread spins per core (or --workers N); they stop when the command ends, or by
// themselves after --seconds (default 3600), so a lost terminal never leaves them spinning.
// Without a command it spins for --seconds and exits. Exits with the command's exit code.
import { spawn } from 'node:child_process'
import { availableParallelism } from 'node:os'
import { parseArgs } from 'node:util'
import { Worker } from 'node:worker_threads'

const { values, positionals } = parseArgs({
  options: {
    workers: { type: 'string', default: String(availableParallelism()) },
    seconds: { type: 'string', default: '3600' },
    help: { type: 'boolean', short: 'h' }
  },
  allowPositionals: true
})
const workers = Number(values.workers)
const seconds = Number(values.seconds)
if (values.help === true || !Number.isInteger(workers) || workers < 1 || !(seconds > 0)) {
  process.stderr.write('usage: node scripts/busy-cores.mjs [--workers N] [--seconds S] [-- command args...]\n' +
    '  spins N worker threads (default: one per core) until the command ends or S seconds (default 3600) have passed\n')
  process.exit(values.help === true ? 0 : 2)
}

const deadline = Date.now() + seconds * 1000
// the deadline is checked between short bursts, so each worker ends on its own even if this process is stuck
const SPIN = `
const { workerData } = require('node:worker_threads')
let x = 0
while (Date.now() < workerData.deadline) for (let i = 0; i < 1e6; i++) x = (x * 31 + i) | 0
`
const threads = Array.from({ length: workers }, () => new Worker(SPIN, { eval: true, workerData: { deadline } }))
const stopAll = async () => { await Promise.all(threads.map(async t => await t.terminate())) }
process.stderr.write(`busy-cores: ${workers} spinning ${workers === 1 ? 'thread' : 'threads'} for at most ${seconds} s\n`)

if (positionals.length === 0) {
  await Promise.all(threads.map(t => new Promise(resolve => t.once('exit', resolve))))
  process.exit(0)
}

const child = spawn(positionals[0], positionals.slice(1), { stdio: 'inherit' })
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => { child.kill(signal) })
child.once('error', async err => {
  process.stderr.write(`busy-cores: cannot run ${positionals[0]}: ${err.message}\n`)
  await stopAll()
  process.exit(127)
})
child.once('exit', async (code, signal) => {
  await stopAll()
  process.exit(code ?? (signal === null ? 1 : 128))
})
