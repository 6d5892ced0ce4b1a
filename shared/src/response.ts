/**
 * Builds the standard `Response` that `peerloom.fetch` resolves with — status 200 or 206,
 * `Content-Type`, `Content-Length`, `Accept-Ranges`, `Content-Range` — with a body streamed
 * from `openRange`. The extension's page API and the SDK's no-extension fallback share it, so a
 * site sees the same answer either way.
 */
import type { ChunkCipher } from './cipher.ts'
import { openRange } from './content.ts'
import type { ChunkReader } from './content.ts'
import type { Manifest } from './manifest.ts'
import { contentRangeHeader, parseRangeHeader } from './range.ts'
import type { ByteRange } from './range.ts'

export interface ContentHead {
  status: 200 | 206
  headers: Record<string, string>
  range: ByteRange
}

/** Status, headers and byte range for `manifest` answering a request with `rangeHeader`. */
export function contentHead (manifest: Pick<Manifest, 'size' | 'mime' | 'name'>, rangeHeader?: string | null): ContentHead {
  const partial = parseRangeHeader(rangeHeader, manifest.size)
  const range = partial ?? { start: 0, end: manifest.size }
  const headers: Record<string, string> = {
    'content-type': manifest.mime,
    'content-length': String(range.end - range.start),
    'accept-ranges': 'bytes',
    'content-disposition': `inline; filename*=UTF-8''${encodeURIComponent(manifest.name)}`
  }
  if (partial !== null) headers['content-range'] = contentRangeHeader(partial, manifest.size)
  return { status: partial === null ? 200 : 206, headers, range }
}

/** A ReadableStream that pulls from an async iterable and stops it when cancelled. */
export function iterableStream (source: AsyncIterable<Uint8Array>): ReadableStream<Uint8Array> {
  const iterator = source[Symbol.asyncIterator]()
  return new ReadableStream<Uint8Array>({
    async pull (controller) {
      try {
        const { done, value } = await iterator.next()
        if (done === true) controller.close()
        else controller.enqueue(value)
      } catch (err) {
        controller.error(err)
      }
    },
    async cancel (reason) {
      await iterator.return?.(reason)
    }
  }, { highWaterMark: 2 })
}

export interface ContentResponseInit {
  manifest: Manifest
  cipher: ChunkCipher
  readChunk: ChunkReader
  /** The request's `Range` header, if any. */
  range?: string | null
  readAhead?: number
  signal?: AbortSignal
  onChunk?: (index: number, sealedBytes: number) => void
}

/** The `Response` for a content request; throws RangeNotSatisfiableError for a bad range. */
export function contentResponse (init: ContentResponseInit): Response {
  const head = contentHead(init.manifest, init.range)
  const body = iterableStream(openRange({
    cipher: init.cipher,
    size: init.manifest.size,
    chunkSize: init.manifest.chunkSize,
    start: head.range.start,
    end: head.range.end,
    readChunk: init.readChunk,
    ...(init.readAhead === undefined ? {} : { readAhead: init.readAhead }),
    ...(init.signal === undefined ? {} : { signal: init.signal }),
    ...(init.onChunk === undefined ? {} : { onChunk: init.onChunk })
  }))
  return new Response(body, { status: head.status, headers: head.headers })
}
