/**
 * bench:idb — what storing 64 MiB of blocks in IndexedDB costs Chromium, by how a block is
 * handed to IndexedDB: as a Blob or as a Uint8Array (the block cache's choice, see
 * block-cache.ts), with 2 and with 16 blocks per transaction. CPU of the browser process (where
 * IndexedDB lives) and of the page's renderer, for writing and then reading every block back.
 * Prints the results table and appends the run to bench/results/idb.json.
 *
 *   npm run bench:idb -w e2e        # BENCH_RUNS=5 by default
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { chromium } from 'playwright-core'
import { CHROMIUM } from '../src/profile.ts'
import { appendRun, describeCheckout } from '../../shared/bench/results-log.ts'
import { median } from './median.ts'
import { cpuMsByProcess } from './process-cpu.ts'

const RUNS = Math.max(3, Number(process.env.BENCH_RUNS ?? 5))
const VARIANTS = ['blob:2', 'bytes:2', 'blob:16', 'bytes:16'] as const

/** The page: 256 sealed 256 KiB chunks (64 MiB) of random bytes, made once at load. */
const PAGE = `<!doctype html><script>
const BLOCK = 256 * 1024 + 16
const blocks = Array.from({ length: 256 }, () => {
  const bytes = new Uint8Array(BLOCK)
  for (let o = 0; o < BLOCK; o += 65536) crypto.getRandomValues(bytes.subarray(o, Math.min(BLOCK, o + 65536)))
  return bytes
})
const done = request => new Promise((resolve, reject) => { request.onsuccess = () => resolve(request.result); request.onerror = () => reject(request.error) })
const open = name => new Promise((resolve, reject) => {
  const request = indexedDB.open(name, 1)
  request.onupgradeneeded = () => request.result.createObjectStore('blocks')
  request.onsuccess = () => resolve(request.result)
  request.onerror = () => reject(request.error)
})
window.write = async (name, kind, perTransaction) => {
  const db = await open(name)
  for (let first = 0; first < blocks.length; first += perTransaction) {
    const tx = db.transaction('blocks', 'readwrite', { durability: 'relaxed' })
    for (let i = first; i < first + perTransaction; i++) tx.objectStore('blocks').put(kind === 'blob' ? new Blob([blocks[i]]) : blocks[i], i)
    await new Promise((resolve, reject) => { tx.oncomplete = resolve; tx.onerror = () => reject(tx.error) })
  }
  db.close()
}
window.read = async name => {
  const db = await open(name)
  let bytes = 0
  for (let i = 0; i < blocks.length; i++) {
    const value = await done(db.transaction('blocks').objectStore('blocks').get(i))
    bytes += (value instanceof Blob ? new Uint8Array(await value.arrayBuffer()) : value).length
  }
  db.close()
  if (bytes !== blocks.length * BLOCK) throw new Error('read back ' + bytes + ' bytes')
}
window.ready = true
</script>`

async function main (): Promise<void> {
  const startedAt = new Date()
  const server = createServer((_req, res) => res.writeHead(200, { 'content-type': 'text/html' }).end(PAGE))
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  const userDataDir = await mkdtemp(join(tmpdir(), 'peerloom-bench-idb-'))
  const context = await chromium.launchPersistentContext(userDataDir, { executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-gpu'] })
  try {
    const page = context.pages()[0] ?? await context.newPage()
    await page.goto(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`)
    await page.waitForFunction(() => 'ready' in window)
    const cpu: Record<string, Record<'write' | 'read', Array<{ browser: number, renderer: number }>>> = {}
    for (let run = 0; run < RUNS; run++) {
      for (const variant of VARIANTS) {
        const [kind, perTransaction] = variant.split(':') as [string, string]
        const name = `${kind}-${perTransaction}-${run}`
        for (const phase of ['write', 'read'] as const) {
          const before = cpuMsByProcess([userDataDir])
          if (phase === 'write') await page.evaluate(async ([n, k, p]) => { await (window as never as { write: (...a: unknown[]) => Promise<void> }).write(n, k, p) }, [name, kind, Number(perTransaction)] as const)
          else await page.evaluate(async n => { await (window as never as { read: (n: string) => Promise<void> }).read(n) }, name)
          const after = cpuMsByProcess([userDataDir])
          const spent = (process: string): number => (after[process] ?? 0) - (before[process] ?? 0)
          ;((cpu[variant] ??= { write: [], read: [] })[phase]).push({ browser: spent('browser'), renderer: spent('renderer') })
        }
      }
      console.log(`run ${run + 1}/${RUNS} done`)
    }
    const medians = (samples: Array<{ browser: number, renderer: number }>): { browser: number, renderer: number } => ({ browser: median(samples.map(s => s.browser)), renderer: median(samples.map(s => s.renderer)) })
    const variants = VARIANTS.map(variant => {
      const [kind, perTransaction] = variant.split(':') as [string, string]
      const row = cpu[variant] as Record<'write' | 'read', Array<{ browser: number, renderer: number }>>
      return { value: kind === 'blob' ? 'Blob' : 'Uint8Array', blocksPerTransaction: Number(perTransaction), writeCpuMs: medians(row.write), readCpuMs: medians(row.read) }
    })
    const entry = await appendRun(join(import.meta.dirname, 'results', 'idb.json'), startedAt, { runs: RUNS, mib: 64, variants })
    const cell = (ms: { browser: number, renderer: number }): string => `${ms.browser.toFixed(0)} / ${ms.renderer.toFixed(0)}`
    console.log(`\nbench:idb — ${entry.date.slice(0, 16)}Z, ${describeCheckout(entry)}; medians of ${RUNS} runs, 64 MiB (256 blocks of 256 KiB + 16 B) each\n`)
    console.log('| block handed over as, blocks per transaction | write: browser / renderer CPU ms | read: browser / renderer CPU ms |')
    console.log('|---|---|---|')
    for (const v of variants) console.log(`| ${v.value}, ${v.blocksPerTransaction} | ${cell(v.writeCpuMs)} | ${cell(v.readCpuMs)} |`)
    console.log('\nappended to bench/results/idb.json')
  } finally {
    await context.close()
    server.close()
    await rm(userDataDir, { recursive: true, force: true })
  }
}

await main()
