/**
 * The player frame a site embeds (from `peerloom.player(link)`). Its `<video>` reads
 * `/stream/<token>`, which the service worker answers from the node with Range support, so the
 * video plays and seeks while it streams. The token was issued to one origin; the frame passes
 * the origin it is embedded in so the node can check the two match.
 */
import { STREAM_PATH } from '../../src/page-api/constants.ts'

const params = new URLSearchParams(location.hash.slice(1))
const video = document.getElementById('video') as HTMLVideoElement
const error = document.getElementById('error') as HTMLDivElement
const token = params.get('t') ?? ''
const origin = location.ancestorOrigins?.[0] ?? ''
video.controls = params.get('controls') !== 'false'
video.muted = params.get('muted') === 'true'
video.autoplay = params.get('autoplay') === 'true'
// tell the embedding site how playback goes (it cannot look inside this frame)
if (origin !== '' && origin !== 'null') {
  const tell = (type: string): void => { window.parent.postMessage({ peerloom: 'player', type, currentTime: video.currentTime, duration: video.duration }, origin) }
  for (const type of ['loadedmetadata', 'playing', 'pause', 'seeking', 'seeked', 'ended', 'error']) video.addEventListener(type, () => { tell(type) })
  video.requestVideoFrameCallback(() => { tell('firstframe') })
}
video.addEventListener('error', () => {
  error.textContent = `This video could not be played (${video.error?.message || `media error ${video.error?.code ?? ''}`}).`
})
if (!/^[\w-]{16,64}$/.test(token) || origin === '' || origin === 'null') {
  error.textContent = 'This player was not opened by a site through Peerloom.'
} else {
  video.src = `${STREAM_PATH}${token}?${new URLSearchParams({ origin }).toString()}`
}
