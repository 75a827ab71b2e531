import { RTCPeerConnection as NodePeerConnection } from "node-datachannel/polyfill"

type Handler = ((event: unknown) => void) | null
type DataChannel = ReturnType<NodePeerConnection["createDataChannel"]>

/**
 * The network under the data channels of Node peers (the server's, or Node clients'), for fault tests: its
 * `RTCPeerConnection` is node-datachannel's, with every data channel it makes or receives wrapped so that `stall(true)` holds messages both
 * ways (as a network that stopped delivering would) and `stall(false)` lets them through in order;
 * `drop()` closes every peer connection at once, which both ends see as the channel going away.
 */
export class ChannelNetwork {
  private readonly peers = new Set<NodePeerConnection>()
  private stalled = false
  /** Messages sent on this network's channels, by channel label. */
  readonly sent = new Map<string, number>()
  private held: Array<() => void> = []
  readonly RTCPeerConnection: typeof NodePeerConnection

  constructor() {
    const network = this
    this.RTCPeerConnection = class extends NodePeerConnection {
      constructor(configuration?: ConstructorParameters<typeof NodePeerConnection>[0]) {
        super(configuration)
        network.peers.add(this)
        // The answering side gets its channels from `ondatachannel`: they are wrapped on the way.
        let ondatachannel: Handler = null
        Object.defineProperty(this, "ondatachannel", {
          get: () =>
            ondatachannel &&
            ((event: { channel: DataChannel }) => ondatachannel?.({ channel: network.wrap(event.channel) })),
          set: (handler: Handler) => {
            ondatachannel = handler
          },
        })
      }
      override createDataChannel(...args: Parameters<NodePeerConnection["createDataChannel"]>) {
        return network.wrap(super.createDataChannel(...args)) as ReturnType<NodePeerConnection["createDataChannel"]>
      }
      override close(): void {
        network.peers.delete(this)
        super.close()
      }
    }
  }

  /** Peer connections made and not closed. */
  get open(): number {
    return this.peers.size
  }

  /** Closes every peer connection; returns how many. */
  drop(): number {
    const peers = [...this.peers]
    this.peers.clear()
    for (const peer of peers) peer.close()
    return peers.length
  }

  stall(on: boolean): void {
    this.stalled = on
    if (on) return
    for (const deliver of this.held.splice(0)) deliver()
  }

  private pass(deliver: () => void): void {
    const guarded = () => {
      try {
        deliver()
      } catch {
        // The channel closed while the message was held: it is lost, as on a real network.
      }
    }
    if (this.stalled) this.held.push(guarded)
    else guarded()
  }

  private wrap(channel: DataChannel): object {
    const network = this
    let onmessage: Handler = null
    channel.onmessage = ((event: unknown) => network.pass(() => onmessage?.(event))) as never
    return {
      get readyState() {
        return channel.readyState
      },
      get bufferedAmount() {
        return channel.bufferedAmount
      },
      get label() {
        return channel.label
      },
      get onopen() {
        return channel.onopen as Handler
      },
      set onopen(handler: Handler) {
        channel.onopen = handler as never
      },
      set onclose(handler: Handler) {
        channel.onclose = handler as never
      },
      set onerror(handler: Handler) {
        channel.onerror = handler as never
      },
      get bufferedAmountLowThreshold() {
        return channel.bufferedAmountLowThreshold
      },
      set bufferedAmountLowThreshold(value: number) {
        channel.bufferedAmountLowThreshold = value
      },
      set onbufferedamountlow(handler: Handler) {
        channel.onbufferedamountlow = handler as never
      },
      set onmessage(handler: Handler) {
        onmessage = handler
      },
      send(data: string) {
        network.sent.set(channel.label, (network.sent.get(channel.label) ?? 0) + 1)
        network.pass(() => channel.send(data))
      },
      close() {
        channel.close()
      },
    }
  }
}
