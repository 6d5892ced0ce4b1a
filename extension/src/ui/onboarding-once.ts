/** Opens the onboarding page the first time the extension is installed in a profile, and never again. */
import { ONBOARDING_PATH } from './pages.ts'

/** The `chrome.storage.local` key that remembers the page was shown. */
const SHOWN_KEY = 'onboardingShownAt'

/**
 * Chromium reports `install` again whenever an unpacked extension is loaded from the command
 * line, so the reason alone would show the page at every start; the stored mark does not.
 */
export async function openOnboardingOnce (reason: string, storage: chrome.storage.StorageArea = chrome.storage.local): Promise<void> {
  if (reason !== 'install') return
  const stored = await storage.get(SHOWN_KEY)
  if (stored[SHOWN_KEY] !== undefined) return
  await storage.set({ [SHOWN_KEY]: Date.now() })
  await chrome.tabs.create({ url: chrome.runtime.getURL(ONBOARDING_PATH) })
}
