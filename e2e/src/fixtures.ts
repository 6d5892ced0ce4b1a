/** Playwright fixtures: a fresh devnet with a published 32 MB file, and Chromium profiles with the extension. */
import { test as base } from '@playwright/test'
import { rm } from 'node:fs/promises'
import { publishRandomFile, startDevnet } from './devnet.ts'
import type { Devnet, PublishedFile } from './devnet.ts'
import { Profile } from './profile.ts'

/**
 * Size of the published test file.
 * @default 32 MiB
 */
export const CONTENT_BYTES = 32 * 1024 * 1024

/** Settings every test profile starts with: fast uploads so transfers finish quickly. */
export const TEST_UPLOAD_RATE = 256 * 1024 * 1024

export interface Fixtures {
  /** Chromium switches for every profile the test launches, after the usual ones (`test.use({ chromiumFlags: [...] })`). */
  chromiumFlags: string[]
  devnet: Devnet
  content: PublishedFile
  /** Launches a profile configured for the devnet; closed and deleted after the test. */
  launch: (name: string, extra?: Record<string, unknown>) => Promise<Profile>
}

export const test = base.extend<Fixtures>({
  chromiumFlags: [[], { option: true }],
  // Playwright reads the first parameter's destructuring to find dependencies: this fixture has none
  // eslint-disable-next-line no-empty-pattern
  devnet: async ({}, use) => {
    const devnet = await startDevnet()
    await use(devnet)
    await devnet.stop()
  },
  content: async ({ devnet }, use) => {
    await use(await publishRandomFile(devnet.dir, devnet.origin.dataDir, CONTENT_BYTES))
  },
  launch: async ({ devnet, chromiumFlags }, use) => {
    const profiles: Profile[] = []
    await use(async (name, extra = {}) => {
      const profile = await Profile.launch(name, { flags: chromiumFlags })
      profiles.push(profile)
      await profile.configure({ ...devnet.settings(), uploadRateBytesPerSec: TEST_UPLOAD_RATE, ...extra })
      return profile
    })
    for (const profile of profiles) {
      await profile.close().catch(() => {})
      await rm(profile.userDataDir, { recursive: true, force: true })
    }
  }
})

export { expect } from '@playwright/test'
