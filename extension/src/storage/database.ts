/**
 * The one way the extension opens an IndexedDB database: a typed `idb` schema plus its
 * migrations in order, so the version number is the number of migrations and an older
 * database runs exactly the steps it has not seen.
 *
 * @example
 * ```ts
 * const notes = defineDatabase<NotesSchema>('notes', [db => { db.createObjectStore('notes') }])
 * const db = await notes.open()
 * ```
 */
import { logger } from '@libp2p/logger'
import { openDB } from 'idb'
import type { DBSchema, IDBPDatabase, IDBPTransaction, StoreNames } from 'idb'

/** One schema step: from version `index` to `index + 1`. */
export type Migration<S extends DBSchema> = (db: IDBPDatabase<S>, tx: IDBPTransaction<S, Array<StoreNames<S>>, 'versionchange'>) => void

export interface DatabaseDefinition<S extends DBSchema> {
  /** The database's default name. */
  readonly name: string
  readonly version: number
  /** Opens (creating or migrating) the database; `name` overrides the default, for tests. */
  open: (name?: string) => Promise<IDBPDatabase<S>>
}

/** A database named `name` whose schema is built by `migrations`, oldest first. */
const log = logger('peerloom:storage')

export function defineDatabase<S extends DBSchema> (name: string, migrations: ReadonlyArray<Migration<S>>): DatabaseDefinition<S> {
  const version = migrations.length
  return {
    name,
    version,
    open: async (override = name) => await openDB<S>(override, version, {
      upgrade (db, oldVersion, _newVersion, tx) {
        log('%s: migrating from version %d to %d', override, oldVersion, version)
        for (let step = oldVersion; step < version; step++) migrations[step]!(db, tx)
      },
      // another context holds the old version open: the upgrade waits until it closes
      blocked (currentVersion) { log('%s: upgrade from version %d waits for another tab or document to close it', override, currentVersion) }
    })
  }
}
