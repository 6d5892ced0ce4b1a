/** Whether `<dir>/dist/<name>.js` was built from the sources as they are now (dist/inputs.json). */
export function fresh (dir: string, name: string): boolean
/** Runs `dist/<name>.js` when fresh, else `source` (a path under the package) through tsx. */
export function launch (name: string, source: string): Promise<void>
