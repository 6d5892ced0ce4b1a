/**
 * The demo site's call page: join a room with the camera, see and hear the others, chat. All
 * through the SDK's `call.join`, as a real site would. `?room=` and `?name=` fill the form;
 * `?height=` asks the camera for that many lines (a smaller picture for a crowded machine).
 * Each remote video counts the frames it presented (`data-frames`, from
 * requestVideoFrameCallback) so a person sees it is live and the e2e tests can wait on it; the
 * count is per person for the whole call, so a tile shown again after its person was briefly
 * gone (a presence timeout) goes on from where it was.
 */
import { createPeerloom } from '@peerloom/sdk'
import type { Call, ChatMessage, Participant, Peerloom } from '@peerloom/sdk'

const $ = <T extends HTMLElement>(id: string): T => document.getElementById(id) as T

function describe (err: unknown): string {
  const e = err as { code?: number, message?: string }
  return e.code === undefined ? String(e.message ?? err) : `${e.message ?? 'error'} (code ${e.code})`
}

function status (text: string, bad = false): void {
  const out = $('status')
  out.textContent = text
  out.className = bad ? 'result bad' : 'result'
}

/** Frames presented per remote person in this call. */
const presented = new Map<string, number>()

/** A tile for one person; remote tiles count presented frames. */
function tile (id: string, label: string, stream: MediaStream, local: boolean): HTMLElement {
  const figure = document.createElement('figure')
  figure.dataset.peerId = id
  const video = document.createElement('video')
  video.autoplay = true
  video.playsInline = true
  video.muted = local // never hear yourself
  video.srcObject = stream
  video.dataset.frames = String(presented.get(id) ?? 0)
  const caption = document.createElement('figcaption')
  caption.textContent = label
  figure.append(video, caption)
  if (!local) {
    const count = (): void => {
      // a tile taken off the page stops counting: its person's next tile goes on
      if (!video.isConnected) return
      const frames = (presented.get(id) ?? 0) + 1
      presented.set(id, frames)
      video.dataset.frames = String(frames)
      video.requestVideoFrameCallback(count)
    }
    video.requestVideoFrameCallback(count)
    // a browser that refuses sound without a gesture still shows the picture
    video.play().catch(() => { video.muted = true; void video.play().catch(() => {}) })
  }
  return figure
}

function showMessage (message: ChatMessage): void {
  const item = document.createElement('li')
  item.dataset.id = message.id
  item.dataset.from = message.from
  if (message.own) item.className = 'own'
  const who = document.createElement('span')
  who.className = 'who'
  who.textContent = `${message.own ? 'you' : message.name} · ${new Date(message.at).toLocaleTimeString()}`
  const text = document.createElement('span')
  text.className = 'text'
  text.textContent = message.text
  item.append(who, text)
  const log = $('chat-log')
  log.append(item)
  log.scrollTop = log.scrollHeight
}

function showState (call: Call | null, state: string): void {
  const pill = $('call-state')
  pill.dataset.state = state
  pill.textContent = call === null ? 'not in a call' : `${state} · room ${call.room} · ${call.participants.size + 1} here`
  $('topology').textContent = call === null ? '' : call.topology === 'mesh' ? 'page to page' : 'through a forwarder'
  $('topology').dataset.topology = call?.topology ?? ''
}

class CallPage {
  private call: Call | null = null
  private stream: MediaStream | null = null
  private screen: MediaStreamTrack | null = null
  private readonly peerloom: Peerloom

  private readonly video: MediaTrackConstraints | true

  constructor (peerloom: Peerloom, height: number | null) {
    this.peerloom = peerloom
    this.video = height === null ? true : { height: { ideal: height } }
  }

  async join (room: string, name: string): Promise<void> {
    if (this.peerloom.state !== 'connected') {
      const { peerId, refusal } = await this.peerloom.connect()
      if (peerId === null) throw new Error(refusal?.message ?? 'calls need the Peerloom extension')
    }
    this.stream = await navigator.mediaDevices.getUserMedia({ video: this.video, audio: true })
    let call: Call
    try {
      call = await this.peerloom.call.join(room, { stream: this.stream, name })
    } catch (err) {
      // refused (e.g. 5011 in a gated room): the camera goes off again
      for (const track of this.stream.getTracks()) track.stop()
      this.stream = null
      throw err
    }
    this.call = call
    const videos = $('videos')
    presented.clear()
    videos.replaceChildren(tile('self', `${name} (you)`, this.stream, true))
    for (const participant of call.participants.values()) this.addTile(participant)
    $('chat-log').replaceChildren()
    for (const message of call.history) showMessage(message)
    call.addEventListener('joined', e => { this.addTile(e.detail.participant); showState(call, call.state) })
    call.addEventListener('left', e => { document.querySelector(`#videos figure[data-peer-id="${CSS.escape(e.detail.participant.peerId)}"]`)?.remove(); showState(call, call.state) })
    call.addEventListener('updated', e => { this.caption(e.detail.participant) })
    call.addEventListener('track', e => { this.refresh(e.detail.participant) })
    call.addEventListener('message', e => { showMessage(e.detail.message) })
    call.addEventListener('topology', () => { showState(call, call.state) })
    call.addEventListener('state', e => {
      showState(call, e.detail.state)
      if (e.detail.state === 'left' || e.detail.state === 'removed') this.ended(e.detail.reason, e.detail.code)
    })
    showState(call, call.state)
    this.inCall(true)
  }

  async send (text: string): Promise<void> {
    await this.call?.send(text)
  }

  mute (kind: 'audio' | 'video', button: HTMLButtonElement): void {
    const muted = button.getAttribute('aria-pressed') !== 'true'
    this.call?.mute(kind, muted)
    button.setAttribute('aria-pressed', String(muted))
    button.textContent = kind === 'audio' ? (muted ? 'Unmute microphone' : 'Mute microphone') : (muted ? 'Start camera' : 'Stop camera')
  }

  async toggleScreen (button: HTMLButtonElement): Promise<void> {
    if (this.call === null) return
    if (this.screen === null) {
      const display = await navigator.mediaDevices.getDisplayMedia({ video: true })
      const track = display.getVideoTracks()[0]
      if (track === undefined) return
      this.screen = track
      track.addEventListener('ended', () => { void this.toggleScreen(button) }) // the browser's own "Stop sharing"
      await this.call.replaceTrack('video', track)
    } else {
      this.screen.stop()
      this.screen = null
      await this.call.replaceTrack('video', this.stream?.getVideoTracks()[0] ?? null)
    }
    button.setAttribute('aria-pressed', String(this.screen !== null))
    button.textContent = this.screen === null ? 'Share screen' : 'Stop sharing'
  }

  async leave (): Promise<void> {
    await this.call?.leave()
    this.ended()
  }

  private ended (reason?: string, code?: number): void {
    for (const track of this.stream?.getTracks() ?? []) track.stop()
    this.screen?.stop()
    this.screen = null
    this.stream = null
    this.call = null
    $('videos').replaceChildren()
    showState(null, 'idle')
    this.inCall(false)
    if (reason !== undefined) status(`The call ended: ${describe({ message: reason, code })}`, true)
  }

  private addTile (participant: Participant): void {
    if (document.querySelector(`#videos figure[data-peer-id="${CSS.escape(participant.peerId)}"]`) !== null) return
    $('videos').append(tile(participant.peerId, participant.name, participant.streams[0] ?? new MediaStream(), false))
  }

  /** Points the tile at the participant's stream again, so a track that joined it late plays. */
  private refresh (participant: Participant): void {
    this.addTile(participant)
    const video = document.querySelector<HTMLVideoElement>(`#videos figure[data-peer-id="${CSS.escape(participant.peerId)}"] video`)
    if (video === null) return
    video.srcObject = participant.streams[0] ?? null
    video.play().catch(() => { video.muted = true; void video.play().catch(() => {}) })
  }

  private caption (participant: Participant): void {
    const caption = document.querySelector(`#videos figure[data-peer-id="${CSS.escape(participant.peerId)}"] figcaption`)
    if (caption !== null) caption.textContent = `${participant.name}${participant.media.audio ? '' : ' (muted)'}${participant.media.screen ? ' · sharing screen' : ''}`
  }

  private inCall (yes: boolean): void {
    $<HTMLButtonElement>('join').hidden = yes
    $<HTMLButtonElement>('leave').hidden = !yes
    $('controls').hidden = !yes
    $<HTMLInputElement>('room').disabled = yes
    $<HTMLInputElement>('name').disabled = yes
    $<HTMLInputElement>('chat-text').disabled = !yes
    $<HTMLButtonElement>('chat-send').disabled = !yes
  }
}

async function main (): Promise<void> {
  const config = await (await fetch('/config.json')).json() as { gateways: string[] }
  const peerloom = await createPeerloom({ gateways: config.gateways })
  const params = new URLSearchParams(location.search)
  const height = Number.parseInt(params.get('height') ?? '', 10)
  const page = new CallPage(peerloom, Number.isInteger(height) && height > 0 ? height : null)
  $<HTMLInputElement>('room').value = params.get('room') ?? 'lobby'
  $<HTMLInputElement>('name').value = params.get('name') ?? `guest-${Math.floor(Math.random() * 1000)}`
  if (peerloom.state === 'no-extension') status('Calls need the Peerloom extension.', true)
  $<HTMLFormElement>('join-form').onsubmit = async event => {
    event.preventDefault()
    const join = $<HTMLButtonElement>('join')
    join.disabled = true
    status('joining…')
    try {
      await page.join($<HTMLInputElement>('room').value, $<HTMLInputElement>('name').value)
      status('In the call. Video, audio and chat are end-to-end encrypted.')
    } catch (err) {
      status(describe(err), true)
    } finally {
      join.disabled = false
    }
  }
  $('leave').onclick = () => { void page.leave() }
  $('mute-audio').onclick = event => { page.mute('audio', event.currentTarget as HTMLButtonElement) }
  $('mute-video').onclick = event => { page.mute('video', event.currentTarget as HTMLButtonElement) }
  $('share-screen').onclick = event => { page.toggleScreen(event.currentTarget as HTMLButtonElement).catch(err => { status(describe(err), true) }) }
  $<HTMLFormElement>('chat-form').onsubmit = async event => {
    event.preventDefault()
    const input = $<HTMLInputElement>('chat-text')
    const text = input.value.trim()
    if (text === '') return
    try {
      await page.send(text)
      input.value = ''
    } catch (err) {
      status(describe(err), true)
    }
  }
  document.documentElement.dataset.ready = 'true'
}

void main()
