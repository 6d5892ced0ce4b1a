/**
 * Seal and open throughput of the Peerloom chunk format at 64 KiB, 256 KiB and 1 MiB chunks,
 * next to raw WebCrypto AES-256-GCM on the same buffers in the same run.
 *
 * "Peerloom seal" = ChunkCipher.create (HKDF) + sealChunks over a stream of 1 MiB pieces
 * (re-cutting, per-chunk nonce and AAD). "Peerloom open" = ChunkCipher.create + openRange over the
 * whole file from in-memory sealed chunks (length check, AAD, slicing). "raw" = one imported
 * AES-GCM key, encrypt/decrypt of the same chunk buffers with a fixed nonce and no AAD.
 * Runs alternate between the two so drift affects both; figures are medians.
 *
 * Prints the results table and appends the run to bench/results/cipher.json.
 *
 * Usage: npm run bench -w shared [-- --mib 64 --runs 7]
 */
import { loadavg } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { ChunkCipher } from '../src/cipher.ts'
import { openRange, sealChunks } from '../src/content.ts'
import { randomBytes } from '../src/bytes.ts'
import { appendRun, describeCheckout } from './results-log.ts'

const { values } = parseArgs({ options: { mib: { type: 'string', default: '64' }, runs: { type: 'string', default: '15' } } })
const totalBytes = Number(values.mib) * 1024 * 1024
const runs = Number(values.runs)
const subtle = globalThis.crypto.subtle
const MiB = 1024 * 1024
const startedAt = new Date()
const loadBefore = loadavg().map(l => l.toFixed(1)).join(' ')

const median = (xs: number[]): number => { const s = [...xs].sort((a, b) => a - b); const m = s.length >> 1; return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2 }
const mbps = (bytes: number, ms: number): number => bytes / 1e6 / (ms / 1000)

async function time (fn: () => Promise<void>): Promise<number> {
  const start = performance.now()
  await fn()
  return performance.now() - start
}

const plaintext = randomBytes(totalBytes)
const pieces = Array.from({ length: Math.ceil(totalBytes / MiB) }, (_, i) => plaintext.subarray(i * MiB, (i + 1) * MiB))
const contentKey = randomBytes(32)
const contentId = randomBytes(32)
const rawKey = await subtle.importKey('raw', randomBytes(32) as BufferSource, 'AES-GCM', false, ['encrypt', 'decrypt'])
const iv = new Uint8Array(12)

interface Row { chunk: string, op: string, peerloom: number, raw: number, ratio: number }
const rows: Row[] = []

for (const chunkSize of [64 * 1024, 256 * 1024, MiB]) {
  const chunks = Array.from({ length: Math.ceil(totalBytes / chunkSize) }, (_, i) => plaintext.subarray(i * chunkSize, (i + 1) * chunkSize))
  const cipher = await ChunkCipher.create(contentKey, contentId)
  const sealed = await Promise.all(chunks.map(async (c, i) => await cipher.seal(i, c)))
  const rawSealed = await Promise.all(chunks.map(async c => new Uint8Array(await subtle.encrypt({ name: 'AES-GCM', iv }, rawKey, c as BufferSource))))
  const t = { seal: [] as number[], rawSeal: [] as number[], open: [] as number[], rawOpen: [] as number[] }
  for (let run = 0; run < runs + 1; run++) {
    const keep = run > 0 // the first run warms up JIT and the thread pool
    const seal = await time(async () => {
      const c = await ChunkCipher.create(contentKey, contentId)
      for await (const _ of sealChunks(pieces, { cipher: c, chunkSize })) { /* consume */ }
    })
    const rawSeal = await time(async () => { for (const c of chunks) await subtle.encrypt({ name: 'AES-GCM', iv }, rawKey, c as BufferSource) })
    const open = await time(async () => {
      const c = await ChunkCipher.create(contentKey, contentId)
      for await (const _ of openRange({ cipher: c, size: totalBytes, chunkSize, start: 0, end: totalBytes, readChunk: async i => sealed[i]! })) { /* consume */ }
    })
    const rawOpen = await time(async () => { for (const c of rawSealed) await subtle.decrypt({ name: 'AES-GCM', iv }, rawKey, c as BufferSource) })
    if (keep) { t.seal.push(seal); t.rawSeal.push(rawSeal); t.open.push(open); t.rawOpen.push(rawOpen) }
  }
  const label = chunkSize >= MiB ? `${chunkSize / MiB} MiB` : `${chunkSize / 1024} KiB`
  // the overhead is the median of each run's paired ratio: both passes of a run see the same machine state
  const pairedRatio = (ours: number[], raw: number[]): number => median(ours.map((ms, i) => raw[i]! / ms))
  rows.push({ chunk: label, op: 'seal', peerloom: mbps(totalBytes, median(t.seal)), raw: mbps(totalBytes, median(t.rawSeal)), ratio: pairedRatio(t.seal, t.rawSeal) })
  rows.push({ chunk: label, op: 'open', peerloom: mbps(totalBytes, median(t.open)), raw: mbps(totalBytes, median(t.rawOpen)), ratio: pairedRatio(t.open, t.rawOpen) })
}

const header = `| chunk | op | Peerloom MB/s | raw AES-GCM MB/s | ratio (median of paired runs) | format overhead |\n|---|---|---:|---:|---:|---:|`
const lines = rows.map(r => `| ${r.chunk} | ${r.op} | ${r.peerloom.toFixed(0)} | ${r.raw.toFixed(0)} | ${r.ratio.toFixed(3)} | ${((1 - r.ratio) * 100).toFixed(1)}% |`)
const loadAfter = loadavg().map(l => l.toFixed(1)).join(' ')
const entry = await appendRun(join(import.meta.dirname, 'results', 'cipher.json'), startedAt, {
  mibPerRun: Number(values.mib),
  runs,
  node: process.version,
  loadAverage: { before: loadBefore, after: loadAfter },
  rows: rows.map(r => ({ chunk: r.chunk, op: r.op, peerloomMBps: r.peerloom, rawMBps: r.raw, ratio: r.ratio, overhead: 1 - r.ratio }))
})
const meta = `${values.mib} MiB per run, medians of ${runs} runs (after 1 warm-up), Node ${process.version}, ${entry.date.slice(0, 16)}Z, ${describeCheckout(entry)}, load average ${loadBefore} → ${loadAfter}`
console.log(`${meta}\n\n${[header, ...lines].join('\n')}\n\nappended to bench/results/cipher.json`)
