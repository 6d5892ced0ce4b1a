/** The hidden bridge frame a page's ports go through (created once per page, on first use). */

import { BRIDGE_PORT_MESSAGE } from '../wire.ts'

let frame: Promise<HTMLIFrameElement> | undefined

/** Hands `port` to the bridge frame at `bridgeUrl`, creating the frame first if needed. */
export function openBridgeFrame (port: MessagePort, bridgeUrl: string): void {
  frame ??= new Promise<HTMLIFrameElement>((resolve, reject) => {
    const element = document.createElement('iframe')
    element.src = bridgeUrl
    element.setAttribute('aria-hidden', 'true')
    element.tabIndex = -1
    element.style.cssText = 'display:none!important'
    element.addEventListener('load', () => { resolve(element) }, { once: true })
    element.addEventListener('error', () => { frame = undefined; reject(new Error('bridge frame failed to load')) }, { once: true })
    ;(document.body ?? document.documentElement).append(element)
  })
  frame.then(element => {
    if (!element.isConnected) { // the page removed it: make a new one
      frame = undefined
      openBridgeFrame(port, bridgeUrl)
      return
    }
    element.contentWindow?.postMessage({ peerloom: BRIDGE_PORT_MESSAGE }, new URL(bridgeUrl).origin, [port])
  }, () => {
    port.postMessage({ t: 'error', id: null, error: { code: 4900, message: 'the Peerloom bridge could not be loaded' } })
  })
}
