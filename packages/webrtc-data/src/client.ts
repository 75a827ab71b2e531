import {
  type ClientLinkEvents,
  type ClientTransport,
  candidateToSignal,
  type IceCandidate,
  isSignalData,
  type Link,
  localOffer,
  remoteCandidates,
  type Signalling,
} from "@switchyard/core"
import { channelLink, type DataChannelLike, UNRELIABLE_CHANNEL, UNRELIABLE_CHANNEL_OPTIONS } from "./channelLink.ts"
import { watchPeer } from "./peerState.ts"

/** The part of `RTCPeerConnection` the client transport uses. */
export interface PeerConnectionLike {
  createDataChannel(
    label: string,
    options?: { ordered?: boolean; negotiated?: boolean; id?: number; maxRetransmits?: number },
  ): DataChannelLike
  createOffer(): Promise<{ readonly type: string; readonly sdp?: string | undefined }>
  setLocalDescription(description: { readonly type: string; readonly sdp?: string | undefined }): Promise<void>
  setRemoteDescription(description: { readonly type: string; readonly sdp: string }): Promise<void>
  addIceCandidate(candidate: IceCandidate): Promise<void>
  readonly localDescription: { readonly type: string; readonly sdp: string } | null
  readonly signalingState: string
  onicecandidate: ((event: never) => void) | null
  close(): void
  /** Watched when present (docs/webrtc.md): a failed peer connection ends the link at once. */
  readonly connectionState?: string
  readonly iceConnectionState?: string
  onconnectionstatechange?: ((event: never) => void) | null
  oniceconnectionstatechange?: ((event: never) => void) | null
}

/** An `RTCPeerConnection` constructor: the browser's, or `node-datachannel/polyfill`'s in Node. */
export type PeerConnectionConstructor = new (configuration: {
  iceServers: readonly object[]
  iceTransportPolicy?: "all" | "relay"
}) => PeerConnectionLike

/** Options of `webrtcTransport`. */
export interface WebRtcTransportOptions {
  /** Defaults to `globalThis.RTCPeerConnection`; in Node, pass `RTCPeerConnection` from `node-datachannel/polyfill`. */
  readonly RTCPeerConnection?: PeerConnectionConstructor
  /** How long the data channel may take to open and answer its probe (ms). Default 10 000. */
  readonly probeTimeoutMs?: number
  /**
   * `"relay"` uses only TURN candidates (the server's offer must carry a TURN server). Browsers enforce it;
   * node-datachannel only keeps its other candidates out of the signalling (docs/webrtc-turn.md).
   */
  readonly iceTransportPolicy?: "all" | "relay"
  /**
   * How long the peer connection may stay `disconnected` before the link ends and the session falls back
   * (ms). Default 2 000. A `failed` peer connection ends the link at once.
   */
  readonly disconnectedTimeoutMs?: number
}

/** How long a client's peer connection may stay `disconnected` before its link ends, by default (ms). */
export const DISCONNECTED_TIMEOUT_MS = 2000

/** The label of the session's channel: reliable and ordered. */
export const SESSION_CHANNEL = "switchyard"

/**
 * WebRTC data channels as a session transport (docs/webrtc.md). It cannot open a session: the client
 * moves a session that is already open to it, signalling over that session (offer, answer and ICE
 * candidates in SIGNAL frames), then probes the channel and resumes there like on any upgrade. ICE
 * servers come from the server's offer.
 *
 * @example
 * ```ts
 * import { createClient } from "@switchyard/client-browser/all"
 * import { webrtcTransport } from "@switchyard/webrtc-data"
 *
 * createClient(Chat, { url, transports: ["websocket", "long-polling", webrtcTransport()] })
 * ```
 */
export function webrtcTransport(options: WebRtcTransportOptions = {}): ClientTransport {
  return {
    id: "webrtc",
    signalled: true,
    signalData: isSignalData,
    // ICE, DTLS and SCTP take several round trips, more through TURN; libdatachannel also waits a full
    // second before resending a DTLS handshake packet that arrived too early.
    probeTimeoutMs: options.probeTimeoutMs ?? 10_000,
    connect(_url: string, events: ClientLinkEvents, signalling?: Signalling): Link {
      if (!signalling) throw new TypeError("switchyard: WebRTC is reached by upgrade from an open session")
      const Peer =
        options.RTCPeerConnection ??
        (globalThis as unknown as { RTCPeerConnection?: PeerConnectionConstructor }).RTCPeerConnection
      if (!Peer) throw new TypeError("switchyard: no RTCPeerConnection here; pass one in the transport options")
      const iceServers = [...(signalling.offer?.iceServers ?? [])]
      const { iceTransportPolicy } = options
      const peer = new Peer(iceTransportPolicy ? { iceServers, iceTransportPolicy } : { iceServers })
      const channel = peer.createDataChannel(SESSION_CHANNEL, { ordered: true })
      const lossy = peer.createDataChannel(UNRELIABLE_CHANNEL, { ...UNRELIABLE_CHANNEL_OPTIONS })
      let stopSignals = () => {}
      let stopWatching = () => {}
      const link = channelLink(
        channel,
        events,
        () => {
          stopWatching()
          stopSignals()
          peer.close()
        },
        undefined,
        { channel: lossy, read: true },
      )
      // A path that goes silent closes no channel: only the peer connection's state tells.
      stopWatching = watchPeer(peer, link.lost, options.disconnectedTimeoutMs ?? DISCONNECTED_TIMEOUT_MS)
      // The offer goes without candidates, and this side's candidates go only once the answer is set. The
      // server cannot reach this peer before this peer knows the server's fingerprint: libdatachannel stores
      // a remote description only after handing it to ICE, so a check that already came in would connect at
      // once and fail DTLS ("unknown CA").
      let answered = false
      const remote = remoteCandidates(peer)
      /** This side's candidates, kept until the answer is set. */
      const local: Array<IceCandidate | null> = []
      const sendCandidate = (c: IceCandidate | null) => signalling.send("candidate", candidateToSignal(c))
      stopSignals = signalling.onSignal((kind, data) => {
        if (kind === "answer") {
          void (async () => {
            await peer.setRemoteDescription(data as { type: string; sdp: string })
            answered = true
            await remote.described()
            for (const candidate of local.splice(0)) sendCandidate(candidate)
          })().catch(() => link.close(1006, "bad answer"))
        } else if (kind === "candidate") {
          if (data !== null) remote.add(data as IceCandidate)
        } else if (kind === "end") link.close(1006, `the server ended the attempt: ${String(data)}`)
      })
      peer.onicecandidate = ((event: { readonly candidate: IceCandidate | null }) => {
        if (answered) sendCandidate(event.candidate)
        else local.push(event.candidate)
      }) as never
      localOffer(peer)
        .then((sdp) => signalling.send("offer", { type: "offer", sdp }))
        .catch(() => link.close(1006, "could not make an offer"))
      return link
    },
  }
}
