/** The Peerloom mark: the same SVG the toolbar icon is rendered from. */
export function Logo ({ size = 22 }: { size?: number }) {
  return <img src="/icon/peerloom.svg" width={size} height={size} alt="" aria-hidden="true" style={{ display: 'block', flex: 'none' }} />
}
