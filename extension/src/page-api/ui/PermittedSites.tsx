/** Options: the sites the user answered for, with a button to revoke (or forget a refusal). */
import { useEffect, useState } from 'preact/hooks'
import { ConsentStore, forgetOrigin } from '../consent.ts'
import type { ConsentRecord } from '../consent.ts'
import { openPageApiDb } from '../page-db.ts'

export function PermittedSites () {
  const [sites, setSites] = useState<ConsentRecord[]>()
  const [error, setError] = useState<string>()

  const load = async (): Promise<void> => {
    try {
      setSites(await new ConsentStore(await openPageApiDb()).list())
    } catch (err) {
      setError((err as Error).message)
    }
  }
  useEffect(() => { void load() }, [])

  const forget = async (origin: string): Promise<void> => {
    try {
      await forgetOrigin(await openPageApiDb(), origin)
      await load()
    } catch (err) {
      setError((err as Error).message)
    }
  }

  return (
    <section class="card" style={{ display: 'grid', gap: '8px' }} data-testid="permitted-sites">
      <h2>Sites</h2>
      <div class="muted">Sites that asked to use Peerloom through <span class="mono">window.peerloom</span>. Revoking one shuts it out at once; it must ask again.</div>
      {error !== undefined && <div class="error">{error}</div>}
      {sites === undefined
        ? <div class="muted">Loading…</div>
        : sites.length === 0
          ? <div class="muted">No site has asked yet.</div>
          : (
            <table>
              <thead><tr><th>Site</th><th>Answer</th><th>Since</th><th /></tr></thead>
              <tbody>
                {sites.map(site => (
                  <tr key={site.origin} data-site-origin={site.origin}>
                    <td class="mono">{site.origin}</td>
                    <td><span class="pill"><span class={`dot ${site.decision === 'allowed' ? 'good' : 'bad'}`} />{site.decision}</span></td>
                    <td class="muted">{new Date(site.at).toLocaleString()}</td>
                    <td style={{ textAlign: 'right' }}><button class="danger" onClick={() => { void forget(site.origin) }}>{site.decision === 'allowed' ? 'Revoke' : 'Forget'}</button></td>
                  </tr>
                ))}
              </tbody>
            </table>
            )}
    </section>
  )
}
