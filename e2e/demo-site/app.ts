/** The demo site's script: every Peerloom call goes through the SDK, as a real site's would. */
import { STATE_CHANGE_EVENT, createPeerloom, formatBytes, formatDuration } from '@peerloom/sdk'
import type { ContentStats, Peerloom, PublishProgress } from '@peerloom/sdk'
import type { DemoContent } from './server.ts'

const $ = <T extends HTMLElement>(id: string): T => document.getElementById(id) as T

function formatProgress (p: PublishProgress): string {
  const parts = [`${formatBytes(p.bytes)} of ${formatBytes(p.total)} (${Math.floor(p.fraction * 100)} %)`]
  if (p.bytes >= p.total) parts.push('finishing: the node seals the last chunks and announces the file')
  else if (p.bytesPerSecond === null || p.etaSeconds === null) parts.push('estimating time left…')
  else parts.push(`${formatBytes(p.bytesPerSecond)}/s`, `about ${formatDuration(p.etaSeconds)} left`)
  return parts.join(' · ')
}

function describe (err: unknown): string {
  const e = err as { code?: number, message?: string }
  return e.code === undefined ? String(e.message ?? err) : `${e.message ?? 'error'} (code ${e.code})`
}

async function sha256Hex (bytes: ArrayBuffer): Promise<string> {
  return [...new Uint8Array(await crypto.subtle.digest('SHA-256', bytes))].map(b => b.toString(16).padStart(2, '0')).join('')
}

/** The header pill, the Connect button and, when the extension refused this site, what to do about it. */
function showState (peerloom: Peerloom): void {
  const mode = $('mode')
  const connect = $<HTMLButtonElement>('connect')
  const hint = $('hint')
  const state = peerloom.state
  mode.dataset.mode = peerloom.mode
  mode.dataset.state = state
  connect.hidden = state === 'no-extension' || state === 'connected'
  hint.hidden = state !== 'refused' && state !== 'no-extension'
  hint.dataset.reason = peerloom.refusal?.reason ?? ''
  if (state === 'connected') {
    mode.className = 'pill ext'
    mode.textContent = `Connected to Peerloom · ${peerloom.peerId?.slice(0, 12) ?? ''}…`
  } else if (state === 'not-connected') {
    mode.className = 'pill'
    mode.textContent = 'Peerloom extension found · not connected (reading from the origin gateway)'
  } else if (state === 'refused') {
    mode.className = 'pill refused'
    mode.textContent = 'Peerloom refused for this site · reading from the origin gateway (verified)'
    const refusal = peerloom.refusal!
    const wait = refusal.retryAt - Date.now()
    const again = wait > 30_000 ? `“Connect Peerloom” can ask you again in about ${Math.ceil(wait / 60_000)} min.` : '“Connect Peerloom” asks you again.'
    const why = refusal.reason === 'denied'
      ? 'You chose Deny when Peerloom asked whether this site may use it.'
      : refusal.reason === 'revoked' ? 'Access for this site was revoked in Peerloom’s Options.' : 'The Peerloom prompt was closed without an answer.'
    hint.replaceChildren()
    const title = document.createElement('strong')
    title.textContent = 'The Peerloom extension is installed, but this site is not allowed to use it. '
    const body = document.createElement('span')
    body.textContent = `${why} ${again}`
    hint.append(title, body)
    if (refusal.reason === 'denied') {
      const how = document.createElement('p')
      how.textContent = 'To allow it now: open Peerloom’s Options (the extension’s menu → Options), find this site under “Sites” and choose Allow (or Forget, to be asked again).'
      hint.append(how)
    }
    const detail = document.createElement('p')
    detail.className = 'result'
    detail.textContent = `Peerloom said: ${refusal.message}`
    hint.append(detail)
  } else {
    mode.className = 'pill gw'
    mode.textContent = 'No extension: reading from the origin gateway (verified)'
    hint.textContent = 'Everything on this page works without the Peerloom extension, read from the origin and verified here. With the extension, content also comes from other visitors, and you can publish.'
  }
}

const table = (head: string[], rows: Array<Array<string | Node>>): HTMLTableElement => {
  const t = document.createElement('table')
  const tr = t.createTHead().insertRow()
  for (const h of head) { const th = document.createElement('th'); th.textContent = h; tr.append(th) }
  const body = t.createTBody()
  for (const cells of rows) {
    const row = body.insertRow()
    for (const cell of cells) row.insertCell().append(cell)
  }
  return t
}

/** Share of a read that the origin did not have to serve. */
function offload (row: { bytesRead: number, bytesFromOrigin: number }): string {
  return row.bytesRead === 0 ? '–' : `${Math.round(100 * (1 - row.bytesFromOrigin / row.bytesRead))} %`
}

function offloadTable (rows: ContentStats[]): HTMLElement {
  if (rows.length === 0) {
    const p = document.createElement('p')
    p.className = 'result'
    p.textContent = 'Nothing yet: fetch, play or publish something above.'
    return p
  }
  const t = table(['content', 'reads', 'from peers', 'from the origin', 'from the cache', 'offloaded'], rows.map(row => {
    const name = document.createElement('span')
    name.textContent = `${row.name || row.cid.slice(0, 12)}${row.published ? ' (published here)' : ''}`
    return [name, String(row.fetches), formatBytes(row.bytesFromPeers), formatBytes(row.bytesFromOrigin), formatBytes(row.bytesFromCache), offload(row)]
  }))
  t.id = 'offload-table'
  rows.forEach((row, i) => { t.tBodies[0]!.rows[i]!.dataset.cid = row.cid })
  return t
}

async function refreshStats (peerloom: Peerloom): Promise<void> {
  try {
    const [stats, content] = await Promise.all([peerloom.stats(), peerloom.contentStats()])
    const rows: Array<[string, string, string]> = [
      ['reads', String(stats.fetches), 'fetches and player requests'],
      ['delivered to this page', formatBytes(stats.bytesDelivered), 'plaintext the page received'],
      ['read by ' + (peerloom.mode === 'extension' ? 'your node' : 'this page'), formatBytes(stats.bytesRead), 'encrypted blocks: whole chunks even for a range, plus the manifest'],
      ['· from peers', formatBytes(stats.bytesFromPeers), 'other visitors and relays'],
      ['· from the origin', formatBytes(stats.bytesFromOrigin), 'the publisher’s gateway'],
      ['· from the cache', formatBytes(stats.bytesFromCache), 'this browser, for content this site read or published before'],
      ['published', `${stats.published} (${formatBytes(stats.bytesPublished)})`, '']
    ]
    $('stats').replaceChildren(...rows.flatMap(([label, value, note]) => {
      const dt = document.createElement('dt'); dt.textContent = label
      const dd = document.createElement('dd'); dd.textContent = value
      if (note !== '') { const small = document.createElement('span'); small.className = 'result'; small.textContent = ` ${note}`; dd.append(small) }
      return [dt, dd]
    }))
    const stat = $('stats')
    stat.dataset.bytesRead = String(stats.bytesRead)
    stat.dataset.bytesFromPeers = String(stats.bytesFromPeers)
    stat.dataset.bytesFromOrigin = String(stats.bytesFromOrigin)
    stat.dataset.bytesFromCache = String(stats.bytesFromCache)
    $('offload').replaceChildren(offloadTable(content))
  } catch (err) {
    $('stats').textContent = describe(err)
  }
}

function row (peerloom: Peerloom, item: DemoContent): HTMLTableRowElement {
  const tr = document.createElement('tr')
  tr.dataset.link = item.link
  const title = document.createElement('td')
  title.innerHTML = '<strong></strong><br><span class="result"></span>'
  title.querySelector('strong')!.textContent = item.title
  title.querySelector('span')!.textContent = `${item.mime} · ${formatBytes(item.size)}`
  const result = document.createElement('td')
  result.className = 'result'
  const actions = document.createElement('td')
  actions.className = 'actions'
  const fetchButton = document.createElement('button')
  fetchButton.className = 'secondary'
  fetchButton.textContent = 'Fetch & verify'
  fetchButton.onclick = async () => {
    fetchButton.disabled = true
    result.className = 'result'
    result.textContent = 'fetching…'
    const started = performance.now()
    try {
      const response = await peerloom.fetch(item.link)
      const bytes = await response.arrayBuffer()
      const seconds = (performance.now() - started) / 1000
      const hash = await sha256Hex(bytes)
      const ok = item.sha256 === undefined || hash === item.sha256
      result.className = ok ? 'result ok' : 'result bad'
      result.textContent = `${ok ? 'verified' : 'HASH MISMATCH'} · ${formatBytes(bytes.byteLength)} in ${seconds.toFixed(2)} s via ${peerloom.mode}`
      result.dataset.sha256 = hash
    } catch (err) {
      result.className = 'result bad'
      result.textContent = describe(err)
    } finally {
      fetchButton.disabled = false
      await refreshStats(peerloom)
    }
  }
  actions.append(fetchButton)
  if (item.mime.startsWith('video/')) {
    const play = document.createElement('button')
    play.textContent = 'Play'
    play.onclick = async () => {
      $('player').textContent = 'loading…'
      try {
        const element = await peerloom.player(item.link, { controls: true, autoplay: true, muted: true })
        $('player').replaceChildren(element)
      } catch (err) {
        $('player').textContent = describe(err)
      }
    }
    actions.append(play)
  }
  tr.append(title, result, actions)
  return tr
}

/** Copies `text`; the button says "Copied" for a moment (or how to copy by hand when the page may not). */
async function copy (button: HTMLButtonElement, text: string, selectable: HTMLElement): Promise<void> {
  try {
    await navigator.clipboard.writeText(text)
    button.textContent = 'Copied'
    button.dataset.copied = 'true'
  } catch {
    getSelection()?.selectAllChildren(selectable)
    button.textContent = 'Press Ctrl+C to copy'
  }
  setTimeout(() => { button.textContent = 'Copy link'; delete button.dataset.copied }, 2000)
}

function showPublished (link: string): void {
  const out = $('published')
  out.className = 'result ok'
  const code = document.createElement('code')
  code.id = 'published-link'
  code.textContent = link
  const button = document.createElement('button')
  button.id = 'copy-link'
  button.className = 'secondary'
  button.textContent = 'Copy link'
  button.onclick = () => { void copy(button, link, code) }
  out.replaceChildren('Published: ', code, ' ', button)
}

async function main (): Promise<void> {
  const config = await (await fetch('/config.json')).json() as { gateways: string[], content: DemoContent[] }
  const peerloom = await createPeerloom({ gateways: config.gateways })
  showState(peerloom)
  peerloom.addEventListener(STATE_CHANGE_EVENT, () => { showState(peerloom); void refreshStats(peerloom) })
  const connect = $<HTMLButtonElement>('connect')
  connect.onclick = async () => {
    connect.disabled = true
    try {
      await peerloom.connect()
      showState(peerloom) // a refusal repeated unchanged fires no event, but its wait is shorter now
    } catch (err) {
      $('mode').textContent = describe(err)
    } finally {
      connect.disabled = false
    }
  }
  const content = $('content')
  const empty = $('no-content')
  const addRow = (item: DemoContent): void => { content.append(row(peerloom, item)); empty.hidden = true }
  for (const item of config.content) addRow(item)
  const publish = $<HTMLButtonElement>('publish')
  publish.onclick = async () => {
    const file = $<HTMLInputElement>('file').files?.[0]
    const out = $('published')
    const bar = $<HTMLProgressElement>('progress')
    if (file === undefined) { out.className = 'result bad'; out.textContent = 'Choose a file first.'; return }
    publish.disabled = true
    out.className = 'result'
    out.textContent = 'publishing…'
    bar.hidden = false
    bar.value = 0
    try {
      const mime = file.type === '' ? 'application/octet-stream' : file.type
      const { link } = await peerloom.publish(file, {
        name: file.name,
        mime,
        onProgress: p => { bar.value = p.fraction; out.textContent = formatProgress(p) }
      })
      showPublished(link)
      addRow({ title: file.name, link, mime, size: file.size })
    } catch (err) {
      out.className = 'result bad'
      out.textContent = describe(err)
    } finally {
      publish.disabled = false
      bar.hidden = true
    }
    await refreshStats(peerloom)
  }
  await refreshStats(peerloom)
  document.documentElement.dataset.ready = 'true'
}

void main()
