import { render } from 'preact'
import '../../src/ui/theme.css'
import { ConsentPrompt } from '../../src/page-api/ui/ConsentPrompt.tsx'

render(<ConsentPrompt />, document.getElementById('app') as HTMLElement)
