import { render } from 'preact'
import '../../src/ui/theme.css'
import { Options } from '../../src/ui/Options.tsx'

render(<Options />, document.getElementById('app') as HTMLElement)
