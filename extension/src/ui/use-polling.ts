import { useEffect } from 'preact/hooks'

/**
 * Runs `load` at once and every `intervalMs` while the component is mounted. `onError` gets
 * the message of a failed load, and `undefined` after a successful one, so a shown error
 * clears itself. Returns the refresh, for controls that change what `load` reads.
 */
export function usePolling (load: () => Promise<void>, intervalMs: number, onError: (message: string | undefined) => void): () => Promise<void> {
  const refresh = async (): Promise<void> => {
    try {
      await load()
      onError(undefined)
    } catch (err) {
      onError((err as Error).message)
    }
  }
  useEffect(() => {
    void refresh()
    const timer = setInterval(() => { void refresh() }, intervalMs)
    return () => { clearInterval(timer) }
  }, [])
  return refresh
}
