import 'fake-indexeddb/auto'
import { test } from 'node:test'
import assert from 'node:assert/strict'
import type { DBSchema } from 'idb'
import { defineDatabase } from '../src/storage/database.ts'

interface NotesSchema extends DBSchema {
  notes: { key: string, value: string }
  tags: { key: string, value: string }
}

test('a database runs the migrations it has not seen, in order, and keeps its data', async () => {
  const ran: number[] = []
  const v1 = defineDatabase<NotesSchema>('notes-test', [db => { ran.push(1); db.createObjectStore('notes') }])
  const first = await v1.open()
  await first.put('notes', 'hello', 'a')
  first.close()
  const v2 = defineDatabase<NotesSchema>('notes-test', [
    db => { ran.push(1); db.createObjectStore('notes') },
    db => { ran.push(2); db.createObjectStore('tags') }
  ])
  assert.equal(v2.version, 2)
  const second = await v2.open()
  assert.deepEqual(ran, [1, 2])
  assert.deepEqual([...second.objectStoreNames].sort(), ['notes', 'tags'])
  assert.equal(await second.get('notes', 'a'), 'hello')
  second.close()
  const fresh = await v2.open('notes-test-fresh')
  assert.deepEqual(ran, [1, 2, 1, 2])
  fresh.close()
})
