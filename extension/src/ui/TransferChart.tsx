/** Bytes served and received per second over time, drawn with uPlot. */
import { useEffect, useRef } from 'preact/hooks'
import uPlot from 'uplot'
import 'uplot/dist/uPlot.min.css'
import type { HistorySeries } from '../transfer-history.ts'
import { formatRate } from './format.ts'

export function TransferChart ({ series, width, height = 120 }: { series: HistorySeries | undefined, width: number, height?: number }) {
  const el = useRef<HTMLDivElement>(null)
  const plot = useRef<uPlot>()

  useEffect(() => {
    if (el.current === null) return
    const axis = { stroke: '#8d99b5', grid: { stroke: '#2a3552', width: 1 }, ticks: { stroke: '#2a3552' } }
    plot.current = new uPlot({
      width,
      height,
      legend: { show: false },
      cursor: { show: false },
      scales: { x: { time: true }, y: { range: (_u, _min, max) => [0, Math.max(max, 1024) * 1.15] } },
      axes: [
        { ...axis, values: (_u, ticks) => ticks.map(t => new Date(t * 1000).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' })) },
        { ...axis, size: 70, space: 24, values: (_u, ticks) => ticks.map(t => formatRate(t)) }
      ],
      series: [
        {},
        { label: 'served', stroke: '#3ecf8e', width: 2, fill: 'rgba(62,207,142,.12)' },
        { label: 'received', stroke: '#6ea8ff', width: 2, fill: 'rgba(110,168,255,.12)' }
      ]
    }, [[], [], []], el.current)
    return () => { plot.current?.destroy() }
  }, [width, height])

  useEffect(() => {
    if (series !== undefined) plot.current?.setData([series.t, series.served, series.received])
  }, [series])

  return <div ref={el} data-testid="transfer-chart" />
}
