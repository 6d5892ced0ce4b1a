/**
 * Heap tuning for the relay process. A relay's heap is thousands of small, similar connection
 * objects plus the garbage their handshakes and pings leave; V8's default heap growing factor
 * (up to 4× the live size after each full GC) lets that garbage hold most of the RSS. Growing
 * by a fixed, smaller step keeps RSS close to the live set for a few percent more GC time
 * (bench/README.md has both measurements).
 *
 * `--heap-growing-percent` is read at every full GC, so unlike heap-size flags it can be set
 * from inside the process; operators can still add `NODE_OPTIONS=--max-semi-space-size=2`.
 */
import { setFlagsFromString } from 'node:v8'

/** Applies the relay's heap tuning (`--heap-growing-percent`, default 20); 0 keeps V8's default. */
export function tuneHeap (percent: number): void {
  if (percent > 0) setFlagsFromString(`--heap-growing-percent=${percent}`)
}
