/**
 * The origin's networking: a Helia node around the relay's libp2p options, serving the
 * on-disk blockstore over bitswap. Loaded only for `--origin`, because Helia's package graph
 * (its default transports included) costs a plain relay about 100 MB of RSS for nothing.
 */
import { withBitswap } from '@helia/bitswap'
import { withLibp2pLight } from '@helia/libp2p'
import * as dagJson from '@ipld/dag-json'
import type { Libp2p, ServiceMap } from '@libp2p/interface'
import type { Blockstore } from 'interface-blockstore'
import type { Datastore } from 'interface-datastore'
import { createHeliaLight } from 'helia'
import type { Helia } from 'helia'
import type { Libp2pOptions } from 'libp2p'

export interface OriginNode<S extends ServiceMap> {
  helia: Helia
  libp2p: Libp2p<S>
}

/** Starts Helia with bitswap over a libp2p node built from `options`. */
export async function startOriginNode<S extends ServiceMap> (options: Libp2pOptions<S>, stores: { blockstore: Blockstore, datastore: Datastore }): Promise<OriginNode<S>> {
  const helia = withBitswap(withLibp2pLight(createHeliaLight({ ...stores, codecs: [dagJson] } as unknown as Parameters<typeof createHeliaLight>[0]), options as never))
  await helia.start()
  return { helia, libp2p: helia.libp2p as unknown as Libp2p<S> }
}
