import { defineConfig } from '@playwright/test'

/** Real Chromium profiles with the built extension against real relay/origin processes; one at a time (2 cores). */
export default defineConfig({
  testDir: './tests',
  outputDir: './test-results',
  workers: 1,
  fullyParallel: false,
  retries: 0,
  timeout: 300_000,
  expect: { timeout: 60_000 },
  globalSetup: './src/global-setup.ts',
  reporter: [['list'], ['json', { outputFile: 'test-results/results.json' }]],
  use: { trace: 'off' }
})
