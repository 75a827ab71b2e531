import { withoutCandidates } from "@switchyard/core"
import { CLOSING_MESSAGE } from "@switchyard/webrtc-data"
import { RTCPeerConnection as NodePeerConnection } from "node-datachannel/polyfill"
import { LossyUdpRelay } from "./lossyUdpRelay.ts"

type Handler = ((event: unknown) => void) | null
type DataChannel = ReturnType<NodePeerConnection["createDataChannel"]>

/**
 * Why a peer connection of a ChannelNetwork was closed: in answer to the remote's closing message reaching
 * its session channel, or to the remote closing a channel of it (closed while that event was handled), or
 * on its own (any other time: a grace period or a timeout ran out, a channel failed, `drop()`). A side that
 * heard the remote but let go only later, when a timer ran out, closed on its own.
 */
export type PeerClose = "after the remote's closing message" | "after the remote closed the channel" | "on its own"

/** The remote's event a peer connection's channel is handling, if any: a close during it answers it. */
interface Heard {
  during: Exclude<PeerClose, "on its own"> | undefined
}

/**
 * The network under the data channels of Node peers (the server's, or Node clients'), for fault tests: its
 * `RTCPeerConnection` is node-datachannel's, with every data channel it makes or receives wrapped so that `stall(true)` holds messages both
 * ways (as a network that stopped delivering would) and `stall(false)` lets them through in order;
 * `drop()` closes every peer connection at once, which both ends see as the channel going away.
 * `closes` records why each peer connection was closed, so that a test can tell a close the remote asked for
 * from a grace period that ran out without timing either.
 *
 * With `relayed`, made for the answering (server) side: each peer connection's packets go through a UDP
 * relay of its own (`LossyUdpRelay`): its one host candidate is rewritten to the relay's port, its
 * description goes without candidates and the other side's candidates are ignored, so the other side
 * can reach it only through the relay. `cut()` then stops every packet either way, as a network that
 * fails does: a peer connection closed after that says nothing to the other side.
 */
export class ChannelNetwork implements AsyncDisposable {
  private readonly peers = new Set<NodePeerConnection>()
  private readonly relays: Array<Promise<LossyUdpRelay>> = []
  private readonly bound: LossyUdpRelay[] = []
  private isCut = false
  /** Peer connections made so far (one per attempt, on the server's side). */
  made = 0
  private stalled = false
  /** Why each peer connection was closed, in the order they were (each once). */
  readonly closes: PeerClose[] = []
  /** Messages sent on this network's channels, by channel label. */
  readonly sent = new Map<string, number>()
  private held: Array<() => void> = []
  readonly RTCPeerConnection: typeof NodePeerConnection

  constructor({ relayed = false } = {}) {
    const network = this
    this.RTCPeerConnection = class extends NodePeerConnection {
      private readonly heard: Heard = { during: undefined }
      private closeRecorded = false

      constructor(configuration?: ConstructorParameters<typeof NodePeerConnection>[0]) {
        super(configuration)
        network.peers.add(this)
        network.made++
        if (relayed) network.relay(this)
        // The answering side gets its channels from `ondatachannel`: they are wrapped on the way.
        let ondatachannel: Handler = null
        Object.defineProperty(this, "ondatachannel", {
          get: () =>
            ondatachannel &&
            ((event: { channel: DataChannel }) =>
              ondatachannel?.({ channel: network.wrap(event.channel, this.heard) })),
          set: (handler: Handler) => {
            ondatachannel = handler
          },
        })
      }
      override createDataChannel(...args: Parameters<NodePeerConnection["createDataChannel"]>) {
        return network.wrap(super.createDataChannel(...args), this.heard) as ReturnType<
          NodePeerConnection["createDataChannel"]
        >
      }
      override close(): void {
        network.peers.delete(this)
        if (!this.closeRecorded) network.closes.push(this.heard.during ?? "on its own")
        this.closeRecorded = true
        super.close()
      }
    }
  }

  /** Routes `peer` through a relay of its own (see the class). */
  private relay(peer: NodePeerConnection): void {
    const relay = LossyUdpRelay.start().then((bound) => {
      bound.cut = this.isCut
      this.bound.push(bound)
      return bound
    })
    this.relays.push(relay)
    let onicecandidate: Handler = null
    /** Candidates go out in order, each once the relay is bound. */
    let queue = Promise.resolve()
    const rewritten = (event: { readonly candidate: RTCIceCandidate | null }) => {
      queue = queue.then(async () => {
        const c = event.candidate
        if (!c?.candidate) return onicecandidate?.(event)
        const line = (await relay).candidate(c.candidate)
        if (line) onicecandidate?.({ candidate: { candidate: line, sdpMid: c.sdpMid, sdpMLineIndex: c.sdpMLineIndex } })
      })
    }
    // node-datachannel's polyfill calls `this.onicecandidate` for each candidate: it gets the rewritten one.
    Object.defineProperty(peer, "onicecandidate", {
      get: () => onicecandidate && rewritten,
      set: (handler: Handler) => {
        onicecandidate = handler
      },
    })
    const described = Object.getOwnPropertyDescriptor(NodePeerConnection.prototype, "localDescription")
    Object.defineProperty(peer, "localDescription", {
      get: () => {
        const description = described?.get?.call(peer) as RTCSessionDescription | null
        return description && { type: description.type, sdp: withoutCandidates(description.sdp) }
      },
    })
    peer.addIceCandidate = async () => {}
  }

  /** Stops every packet on every relay, from now on (only with `relayed`). */
  cut(): void {
    this.isCut = true
    for (const relay of this.bound) relay.cut = true
  }

  async [Symbol.asyncDispose](): Promise<void> {
    for (const relay of await Promise.all(this.relays.splice(0))) await relay[Symbol.asyncDispose]()
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

  /** `channel`, its messages passed through `stall`, and the remote's events it handles marked in `heard`. */
  private wrap(channel: DataChannel, heard: Heard): object {
    const network = this
    let onmessage: Handler = null
    /** Whether this side closed the channel: its close event is then none of the remote's doing. */
    let closedHere = false
    channel.onmessage = ((event: { readonly data: unknown }) =>
      network.pass(() => {
        const closing = typeof event.data === "string" && event.data.startsWith(CLOSING_MESSAGE)
        handling(heard, closing ? "after the remote's closing message" : undefined, () => onmessage?.(event))
      })) as never
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
        channel.onclose = ((event: unknown) =>
          handling(heard, closedHere ? undefined : "after the remote closed the channel", () =>
            handler?.(event),
          )) as never
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
        closedHere = true
        channel.close()
      },
    }
  }
}

/** Runs `handle` with `cause` (when given) as what a close of the peer connection during it answers. */
function handling(heard: Heard, cause: Heard["during"], handle: () => void): void {
  if (cause === undefined) return handle()
  const outer = heard.during
  heard.during ??= cause
  try {
    handle()
  } finally {
    heard.during = outer
  }
}
