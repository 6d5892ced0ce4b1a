/** The demo site's script: every Peerloom call goes through the SDK, as a real site's would. */
import { createPeerloom } from '@peerloom/sdk'
import type { Peerloom } from '@peerloom/sdk'
import type { DemoContent } from './server.ts'

const $ = <T extends HTMLElement>(id: string): T => document.getElementById(id) as T

function formatBytes (n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB']
  let i = 0
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++ }
  return `${n.toFixed(i === 0 ? 0 : 1)} ${units[i]}`
}

function describe (err: unknown): string {
  const e = err as { code?: number, message?: string }
  return e.code === undefined ? String(e.message ?? err) : `${e.message ?? 'error'} (code ${e.code})`
}

async function sha256Hex (bytes: ArrayBuffer): Promise<string> {
  return [...new Uint8Array(await crypto.subtle.digest('SHA-256', bytes))].map(b => b.toString(16).padStart(2, '0')).join('')
}

function showMode (peerloom: Peerloom, peerId: string | null = null): void {
  const mode = $('mode')
  if (peerloom.mode === 'extension') {
    mode.className = 'pill ext'
    mode.textContent = peerId === null ? 'Peerloom extension found' : `Connected to Peerloom · ${peerId.slice(0, 12)}…`
  } else {
    mode.className = 'pill gw'
    mode.textContent = 'No extension: reading from the origin gateway (verified)'
  }
  mode.dataset.mode = peerloom.mode
}

async function refreshStats (peerloom: Peerloom): Promise<void> {
  try {
    const stats = await peerloom.stats()
    $('stats').innerHTML = ''
    const rows: Array<[string, string]> = [['fetches', String(stats.fetches)], ['delivered', formatBytes(stats.bytesDelivered)], ['from peers', formatBytes(stats.bytesFromPeers)], ['from the origin', formatBytes(stats.bytesFromOrigin)], ['published', `${stats.published} (${formatBytes(stats.bytesPublished)})`]]
    for (const [label, value] of rows) {
      const dt = document.createElement('dt'); dt.textContent = label
      const dd = document.createElement('dd'); dd.textContent = value
      $('stats').append(dt, dd)
    }
  } catch (err) {
    $('stats').textContent = describe(err)
  }
}

function row (peerloom: Peerloom, item: DemoContent): HTMLTableRowElement {
  const tr = document.createElement('tr')
  tr.dataset.link = item.link
  const title = document.createElement('td')
  title.innerHTML = `<strong></strong><br><span class="result"></span>`
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

async function main (): Promise<void> {
  const config = await (await fetch('/config.json')).json() as { gateways: string[], content: DemoContent[] }
  const peerloom = await createPeerloom({ gateways: config.gateways })
  showMode(peerloom)
  const connect = $<HTMLButtonElement>('connect')
  if (peerloom.mode === 'extension') {
    connect.hidden = false
    connect.onclick = async () => {
      try {
        const { peerId } = await peerloom.connect()
        connect.hidden = peerId !== null
        showMode(peerloom, peerId)
      } catch (err) {
        $('mode').textContent = describe(err)
      }
      await refreshStats(peerloom)
    }
  }
  $('content').replaceChildren(...config.content.map(item => row(peerloom, item)))
  $('publish').onclick = async () => {
    const file = $<HTMLInputElement>('file').files?.[0]
    const out = $('published')
    if (file === undefined) { out.textContent = 'Choose a file first.'; return }
    out.className = 'result'
    out.textContent = 'publishing…'
    try {
      const { link } = await peerloom.publish(file, { name: file.name, mime: file.type === '' ? 'application/octet-stream' : file.type })
      out.className = 'result ok'
      out.innerHTML = 'Published: <code></code>'
      out.querySelector('code')!.textContent = link
      $('content').append(row(peerloom, { title: file.name, link, mime: file.type || 'application/octet-stream', size: file.size }))
    } catch (err) {
      out.className = 'result bad'
      out.textContent = describe(err)
    }
    await refreshStats(peerloom)
  }
  await refreshStats(peerloom)
  document.documentElement.dataset.ready = 'true'
}

void main()
