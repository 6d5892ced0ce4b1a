/** The package version, for both CLIs' --version; the bundle inlines it, so dist/ needs no package.json beside it. */
import pkg from '../package.json' with { type: 'json' }

export const PACKAGE_VERSION: string = pkg.version
