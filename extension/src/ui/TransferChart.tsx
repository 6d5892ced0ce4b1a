/** Bytes served and received per second over time, drawn with uPlot. */
import { useEffect, useRef } from 'preact/hooks'
import uPlot from 'uplot'
import 'uplot/dist/uPlot.min.css'
import type { HistorySeries } from './node-client.ts'
import { formatRate } from './format.ts'

/** Space for the rate axis: room for its longest label ("1023.9 KiB/s"), px. */
const RATE_AXIS_PX = 78

/** Draws at the width of its container, so the chart and its labels never reach past the card. */
export function TransferChart ({ series, height = 120 }: { series: HistorySeries | undefined, height?: number }) {
  const el = useRef<HTMLDivElement>(null)
  const plot = useRef<uPlot>()

  useEffect(() => {
    if (el.current === null) return
    const axis = { stroke: '#8d99b5', font: '11px system-ui, sans-serif', grid: { stroke: '#2a3552', width: 1 }, ticks: { stroke: '#2a3552' } }
    plot.current = new uPlot({
      width: el.current.clientWidth,
      height,
      legend: { show: false },
      cursor: { show: false },
      // room on the right for half of the last time label ("01:10 PM"), which is centred on its tick
      padding: [8, 30, 0, 0],
      scales: { x: { time: true }, y: { range: (_u, _min, max) => [0, Math.max(max, 1024) * 1.15] } },
      axes: [
        { ...axis, size: 32, space: 60, values: (_u, ticks) => ticks.map(t => new Date(t * 1000).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' })) },
        { ...axis, size: RATE_AXIS_PX, space: 24, values: (_u, ticks) => ticks.map(t => formatRate(t)) }
      ],
      series: [
        {},
        { label: 'served', stroke: '#3ecf8e', width: 2, fill: 'rgba(62,207,142,.12)' },
        { label: 'received', stroke: '#6ea8ff', width: 2, fill: 'rgba(110,168,255,.12)' }
      ]
    }, [[], [], []], el.current)
    return () => { plot.current?.destroy() }
  }, [height])

  useEffect(() => {
    if (series !== undefined) plot.current?.setData([series.t, series.served, series.received])
  }, [series])

  return <div ref={el} data-testid="transfer-chart" style={{ width: '100%', overflow: 'hidden' }} />
}
