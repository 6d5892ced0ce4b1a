import { render } from 'preact'
import '../../src/ui/theme.css'
import { Popup } from '../../src/ui/Popup.tsx'

render(<Popup />, document.getElementById('app') as HTMLElement)
