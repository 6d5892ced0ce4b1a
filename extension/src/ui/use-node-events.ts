import { useEffect, useState } from 'preact/hooks'
import type { NodeSettings } from '@peerloom/shared'
import { subscribeToNode } from './node-client.ts'
import type { HistorySeries, NodeEarnings, NodeError, NodeEventBatch, NodeStatus } from './node-client.ts'

/** Errors a page keeps to show (the newest last). @default 20 */
const KEPT_ERRORS = 20

/** What a page knows of the node, from its events. */
export interface NodeView {
  status?: NodeStatus
  settings?: NodeSettings
  history?: HistorySeries
  earnings?: NodeEarnings
  /** Errors the node recorded, oldest first. */
  errors: NodeError[]
  /** Why the node cannot be reached, while it cannot; cleared by the next events. */
  problem?: string
}

/** The view after a batch of events: a snapshot starts over, other batches update it. */
export function applyBatch (view: NodeView, batch: NodeEventBatch): NodeView {
  const next: NodeView = batch.snapshot ? { errors: [] } : { ...view, errors: [...view.errors] }
  delete next.problem
  for (const event of batch.events) {
    if (event.type === 'error') next.errors = [...next.errors, event.detail].slice(-KEPT_ERRORS)
    else next[event.type] = event.detail as never
  }
  return next
}

/**
 * The node as its events tell it, while the component is mounted. The second value lets a
 * page apply what an RPC answered at once (the event carrying it may come a moment later).
 */
export function useNodeEvents (): [NodeView, (patch: Partial<Omit<NodeView, 'errors'>>) => void] {
  const [view, setView] = useState<NodeView>({ errors: [] })
  useEffect(() => subscribeToNode({
    onBatch: batch => { setView(current => applyBatch(current, batch)) },
    onProblem: problem => { setView(current => ({ ...current, problem })) }
  }), [])
  return [view, patch => { setView(current => ({ ...current, ...patch })) }]
}
