/** Display formatting shared by the popup and options. */
export { formatBytes } from '@peerloom/shared/progress'

export function formatRate (bytesPerSec: number): string {
  if (bytesPerSec < 1024) return `${Math.round(bytesPerSec)} B/s`
  if (bytesPerSec < 1024 * 1024) return `${(bytesPerSec / 1024).toFixed(1)} KiB/s`
  return `${(bytesPerSec / 1024 / 1024).toFixed(1)} MiB/s`
}

export function shortId (id: string, keep = 6): string {
  return id.length <= keep * 2 + 1 ? id : `${id.slice(0, keep)}…${id.slice(-keep)}`
}

export function ago (ms: number): string {
  const s = Math.max(0, Math.round((Date.now() - ms) / 1000))
  if (s < 60) return `${s}s ago`
  if (s < 3600) return `${Math.round(s / 60)} min ago`
  return `${Math.round(s / 3600)} h ago`
}

/** `1 peer`, `2 peers`: a count with its noun in the right number (`plural` for irregular nouns). */
export function count (n: number, noun: string, plural = `${noun}s`): string {
  return `${n} ${n === 1 ? noun : plural}`
}

/** A clock time, e.g. `14:05`; with the date too when it is not today. */
export function formatTime (ms: number, now = Date.now()): string {
  const at = new Date(ms)
  const time = at.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' })
  return at.toDateString() === new Date(now).toDateString() ? time : `${at.toLocaleDateString([], { month: 'short', day: 'numeric' })} ${time}`
}

/**
 * A reward epoch as a time range: epochs are numbered by the unix second they opened in (a
 * later number when two open in the same second), and last `epochSeconds` unless claimed early.
 */
export function formatEpoch (epoch: string, epochSeconds: number, now = Date.now()): string {
  const start = Number(epoch) * 1000
  if (!Number.isFinite(start) || start <= 0) return epoch
  return `${formatTime(start, now)} – ${formatTime(start + epochSeconds * 1000, now)}`
}
