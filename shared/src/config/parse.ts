/** Validates configuration with a zod schema and turns the first problem into a ConfigError naming the value. */
import type { z } from 'zod'
import { ConfigError } from '../errors.ts'

/** Parses `input` with `schema`; throws ConfigError("<path>: <problem> (got <value>)"). */
export function parseConfig<S extends z.ZodType> (schema: S, input: unknown, what = 'config'): z.output<S> {
  const result = schema.safeParse(input)
  if (result.success) return result.data
  const issue = result.error.issues[0]
  const path = issue === undefined || issue.path.length === 0 ? what : `${what}.${issue.path.join('.')}`
  const got = issue === undefined ? undefined : valueAt(input, issue.path)
  const shown = got === undefined ? '' : ` (got ${JSON.stringify(got)?.slice(0, 80) ?? String(got)})`
  throw new ConfigError(`${path}: ${issue?.message ?? 'invalid'}${shown}`, { data: { path } })
}

function valueAt (input: unknown, path: readonly PropertyKey[]): unknown {
  let value = input
  for (const key of path) {
    if (typeof value !== 'object' || value === null) return undefined
    value = (value as Record<PropertyKey, unknown>)[key]
  }
  return value
}
