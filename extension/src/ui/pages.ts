/** Paths of the extension's own pages that other pages and the service worker open. */

/** Opened by the service worker once, on install. */
export const ONBOARDING_PATH = '/onboarding.html'

/** The Sites list in Options, where a site's answer can be changed. */
export const SITES_OPTIONS_PATH = '/options.html#sites'
