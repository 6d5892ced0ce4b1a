/**
 * Prometheus metrics (prom-client): libp2p's own (through @libp2p/prometheus-metrics, which
 * also carries Helia bitswap's `helia_bitswap_sent_*` counters) plus the relay's and the
 * origin's, all in one registry that `/metrics` renders.
 */
import { prometheusMetrics } from '@libp2p/prometheus-metrics'
import type { Metrics, Stream } from '@libp2p/interface'
import { Counter, Gauge, Histogram, Registry } from 'prom-client'
import { HOP_PROTOCOL, STOP_PROTOCOL } from './limits.ts'

/** The numbers the relay reads from its node when Prometheus scrapes. */
export interface RelayGauges {
  connections: () => number
  reservations: () => number
  circuits: () => number
  rooms: () => number
}

export class RelayMetrics {
  readonly registry = new Registry()
  readonly httpRequests = new Counter({ name: 'peerloom_http_requests_total', help: 'HTTP requests answered, by route and status', labelNames: ['route', 'status'] as const, registers: [this.registry] })
  readonly httpDuration = new Histogram({ name: 'peerloom_http_request_duration_seconds', help: 'Time to answer an HTTP request, by route', labelNames: ['route'] as const, buckets: [0.001, 0.005, 0.02, 0.1, 0.5, 2, 10], registers: [this.registry] })
  readonly relayedBytes = new Counter({ name: 'peerloom_relay_relayed_bytes_total', help: 'Bytes carried over relayed connections (hop streams, both directions)', registers: [this.registry] })
  readonly circuitsOpened = new Counter({ name: 'peerloom_relay_circuits_opened_total', help: 'Relayed connections set up', registers: [this.registry] })
  readonly denied = new Counter({ name: 'peerloom_relay_denied_total', help: 'Connections, reservations and circuits refused by a per-IP or per-peer cap', labelNames: ['reason'] as const, registers: [this.registry] })
  readonly blocksServed = new Counter({ name: 'peerloom_gateway_blocks_served_total', help: 'Blocks served by the trustless gateway (bitswap counts as helia_bitswap_sent_blocks_total)', registers: [this.registry] })
  readonly bytesServed = new Counter({ name: 'peerloom_gateway_bytes_served_total', help: 'Block bytes served by the trustless gateway (bitswap counts as helia_bitswap_sent_data_bytes_total)', registers: [this.registry] })
  readonly blocksStored = new Counter({ name: 'peerloom_origin_blocks_stored_total', help: 'Verified blocks written by uploads', registers: [this.registry] })
  readonly pubsubRelayed = new Counter({ name: 'peerloom_pubsub_messages_relayed_total', help: 'Gossipsub messages on call topics accepted and passed on', registers: [this.registry] })
  readonly pubsubRejected = new Counter({ name: 'peerloom_pubsub_messages_rejected_total', help: 'Gossipsub messages and subscriptions dropped, by reason (topic, size, malformed, rate, not-carried, addrs-count, addrs-length, addrs-format, addrs-peer)', labelNames: ['reason'] as const, registers: [this.registry] })
  private gauges?: RelayGauges

  constructor () {
    const gauge = (name: string, help: string, read: (gauges: RelayGauges) => number): Gauge => new Gauge({
      name,
      help,
      registers: [this.registry],
      collect: () => { this.gauge(name)?.set(this.gauges === undefined ? 0 : read(this.gauges)) }
    })
    gauge('peerloom_relay_connections', 'Open libp2p connections', gauges => gauges.connections())
    gauge('peerloom_relay_reservations', 'Circuit relay reservations held', gauges => gauges.reservations())
    gauge('peerloom_relay_circuits', 'Relayed connections open now', gauges => gauges.circuits())
    gauge('peerloom_pubsub_rooms', 'Call room topics this relay carries now', gauges => gauges.rooms())
  }

  private gauge (name: string): Gauge | undefined {
    return this.registry.getSingleMetric(name) as Gauge | undefined
  }

  /** Points the gauges at the running node. */
  bind (gauges: RelayGauges): void {
    this.gauges = gauges
  }

  /** The libp2p `metrics` factory: prom-client backed, counting relayed bytes and circuits too. */
  libp2pMetrics (): (components: Parameters<ReturnType<typeof prometheusMetrics>>[0]) => Metrics {
    const factory = prometheusMetrics({ registry: this.registry, collectDefaultMetrics: true, preserveExistingMetrics: false })
    return components => {
      const metrics = factory(components)
      const track = metrics.trackProtocolStream.bind(metrics)
      metrics.trackProtocolStream = (stream: Stream) => {
        track(stream)
        if (stream.protocol === HOP_PROTOCOL && stream.direction === 'inbound') this.countRelayed(stream)
        if (stream.protocol === STOP_PROTOCOL && stream.direction === 'outbound') this.circuitsOpened.inc()
      }
      return metrics
    }
  }

  /**
   * Counts bytes both ways on a hop stream. Like the Prometheus tracker it wraps
   * dispatchEvent and send instead of adding a `message` listener, which would make the
   * stream deliver buffered data before the relay server reads it.
   */
  private countRelayed (stream: Stream): void {
    const dispatch = stream.dispatchEvent.bind(stream)
    stream.dispatchEvent = (event: Event) => {
      if (event.type === 'message') this.relayedBytes.inc((event as Event & { data: Uint8Array | { byteLength: number } }).data.byteLength)
      return dispatch(event)
    }
    const send = stream.send.bind(stream)
    stream.send = (data: Parameters<Stream['send']>[0]) => {
      this.relayedBytes.inc(data.byteLength)
      return send(data)
    }
  }

  async render (): Promise<{ contentType: string, body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() }
  }
}
