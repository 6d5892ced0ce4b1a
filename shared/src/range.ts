/** HTTP Range handling shared by the page API's fetch, the player and the origin gateway. */
import { RangeNotSatisfiableError } from './errors.ts'

/** A half-open byte range [start, end). */
export interface ByteRange {
  start: number
  end: number
}

/**
 * Parses a single-range `Range` header (`bytes=a-b`, `bytes=a-`, `bytes=-n`) against a
 * `size`-byte resource. Returns null when there is no header; throws
 * RangeNotSatisfiableError for a malformed, multi-part or out-of-bounds range.
 */
export function parseRangeHeader (header: string | null | undefined, size: number): ByteRange | null {
  if (header === null || header === undefined || header.trim() === '') return null
  const match = /^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$/i.exec(header)
  if (match === null) throw new RangeNotSatisfiableError(`unsupported Range header "${header.slice(0, 60)}": use one range such as bytes=0-1023`, { data: { size } })
  const [, first = '', last = ''] = match
  if (first === '' && last === '') throw new RangeNotSatisfiableError('Range header names no bytes', { data: { size } })
  let start: number
  let end: number
  if (first === '') {
    const suffix = Number(last)
    if (suffix === 0) throw new RangeNotSatisfiableError('a suffix range of 0 bytes is empty', { data: { size } })
    start = Math.max(0, size - suffix)
    end = size
  } else {
    start = Number(first)
    end = last === '' ? size : Math.min(size, Number(last) + 1)
    if (last !== '' && Number(last) < start) throw new RangeNotSatisfiableError(`range ${start}-${last} ends before it starts`, { data: { size } })
  }
  if (!Number.isSafeInteger(start) || start >= size) throw new RangeNotSatisfiableError(`range starts at ${start}, past the end of the ${size}-byte content`, { data: { size } })
  return { start, end }
}

/** Checks that [start, end) lies inside a `size`-byte resource. */
export function assertRange ({ start, end }: ByteRange, size: number): void {
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || start < 0 || end < start || end > size) {
    throw new RangeNotSatisfiableError(`range [${start}, ${end}) is outside the ${size}-byte content`, { data: { size } })
  }
}

/** The `Content-Range` value for a 206 answer. */
export function contentRangeHeader ({ start, end }: ByteRange, size: number): string {
  return `bytes ${start}-${end - 1}/${size}`
}
