/**
 * Strict option parsing for every CLI entry (`peerloom-relay`, `peerloom publish`, `peerloom
 * report`): node:util's parseArgs, with its errors rewritten into ConfigErrors a person can act
 * on — an unknown or misspelled flag names the closest real one instead of being ignored.
 */
import { parseArgs } from 'node:util'
import type { ParseArgsConfig } from 'node:util'
import { ConfigError, isPeerloomError } from '@peerloom/shared/errors'

type Options = NonNullable<ParseArgsConfig['options']>

/** What parseOptions returns: flag values by name, and the positional arguments. */
export interface ParsedOptions {
  values: Record<string, string | boolean | string[] | undefined>
  positionals: string[]
}

/** Edit distance between two short strings (insertions, deletions, substitutions, swaps). */
function distance (a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => i === 0 ? j : j === 0 ? i : 0))
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const row = d[i] as number[]
      row[j] = Math.min((d[i - 1] as number[])[j] as number + 1, row[j - 1] as number + 1, (d[i - 1] as number[])[j - 1] as number + (a[i - 1] === b[j - 1] ? 0 : 1))
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) row[j] = Math.min(row[j] as number, (d[i - 2] as number[])[j - 2] as number + 1)
    }
  }
  return (d[a.length] as number[])[b.length] as number
}

/** The known flag closest to `typed`, when it is close enough to be a typo of it. */
export function closestOption (typed: string, known: readonly string[]): string | undefined {
  const name = typed.replace(/^-+/, '').split('=')[0] ?? ''
  let best: { flag: string, score: number } | undefined
  for (const flag of known) {
    const score = flag.startsWith(name) && name.length >= 3 ? 0 : distance(name, flag)
    if (best === undefined || score < best.score) best = { flag, score }
  }
  return best !== undefined && best.score <= Math.max(1, Math.floor(best.flag.length / 3)) ? best.flag : undefined
}

/**
 * parseArgs in strict mode; throws ConfigError: `unknown option --dtaa (did you mean --data?);
 * see peerloom publish --help`.
 */
export function parseOptions (argv: string[], options: Options, command: string, allowPositionals: boolean): ParsedOptions {
  try {
    return parseArgs({ args: argv, options, allowPositionals, strict: true }) as ParsedOptions
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    const see = `see ${command} --help`
    if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
      const typed = /'([^']+)'/.exec((err as Error).message)?.[1] ?? '?'
      const suggestion = closestOption(typed, Object.keys(options))
      throw new ConfigError(`unknown option ${typed}${suggestion === undefined ? '' : ` (did you mean --${suggestion}?)`}; ${see}`, { cause: err })
    }
    if (code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') {
      const flag = /'(--[\w-]+)/.exec((err as Error).message)?.[1]
      const type = flag === undefined ? undefined : options[flag.slice(2)]?.type
      throw new ConfigError(type === 'boolean'
        ? `${flag ?? 'an option'} takes no value; ${see}`
        : `${flag ?? 'an option'} needs a value (a value that starts with "-" goes as ${flag ?? '--option'}=VALUE); ${see}`, { cause: err })
    }
    if (code === 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL') {
      const extra = /'([^']*)'/.exec((err as Error).message)?.[1] ?? ''
      throw new ConfigError(`unexpected argument "${extra}": ${command} takes options only; ${see}`, { cause: err })
    }
    throw new ConfigError(`${(err as Error).message}; ${see}`, { cause: err })
  }
}

/** An error as a CLI prints it: the message, then `[ConfigError 5009]` when it has a code. */
export function describeError (err: unknown): string {
  const message = err instanceof Error ? err.message : String(err)
  return isPeerloomError(err) ? `${message} [${err.name} ${err.code}]` : message
}
