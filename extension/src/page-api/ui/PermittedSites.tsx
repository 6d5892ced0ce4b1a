/**
 * Options: the sites the user answered for, with buttons to revoke, to allow a refused site, or
 * to forget a refusal. Read and changed through the node's RPC, which owns the page API's database.
 */
import { useEffect, useState } from 'preact/hooks'
import { nodeClient } from '../../ui/node-client.ts'
import type { SiteRecord } from '../../ui/node-client.ts'

export function PermittedSites () {
  const [sites, setSites] = useState<SiteRecord[]>()
  const [error, setError] = useState<string>()

  const load = async (): Promise<void> => {
    try {
      setSites(await nodeClient.sites())
    } catch (err) {
      setError((err as Error).message)
    }
  }
  useEffect(() => { void load() }, [])

  const change = async (what: () => Promise<void>): Promise<void> => {
    try {
      await what()
      await load()
    } catch (err) {
      setError((err as Error).message)
    }
  }
  const forget = async (origin: string): Promise<void> => { await change(async () => { await nodeClient.forgetSite(origin) }) }
  // the user's own answer, given here instead of in a prompt the site would have to open again
  const allow = async (origin: string): Promise<void> => { await change(async () => { await nodeClient.allowSite(origin) }) }

  return (
    <section class="card" id="sites" style={{ display: 'grid', gap: '8px' }} data-testid="permitted-sites">
      <h2>Sites</h2>
      <div class="hint">Sites that asked to use Peerloom through <span class="mono">window.peerloom</span>. Revoke shuts a site out at once (it must ask again); Allow lets in a site you denied; Forget lets it ask again.</div>
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
                    <td class="mono wrap" style={{ textAlign: 'left' }}>{site.origin}</td>
                    <td><span class="pill"><span class={`dot ${site.decision === 'allowed' ? 'good' : 'bad'}`} />{site.decision}</span></td>
                    <td class="muted">{new Date(site.at).toLocaleString()}</td>
                    <td style={{ textAlign: 'right', whiteSpace: 'nowrap' }}>
                      {site.decision === 'denied' && <button data-testid="site-allow" onClick={() => { void allow(site.origin) }}>Allow</button>}{' '}
                      <button class="danger" data-testid="site-forget" onClick={() => { void forget(site.origin) }}>{site.decision === 'allowed' ? 'Revoke' : 'Forget'}</button>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
            )}
    </section>
  )
}
