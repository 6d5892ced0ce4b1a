import { render } from 'preact'
import '../../src/ui/theme.css'
import { Onboarding } from '../../src/ui/Onboarding.tsx'

render(<Onboarding />, document.getElementById('app') as HTMLElement)
