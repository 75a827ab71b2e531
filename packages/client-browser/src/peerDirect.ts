import {
  candidateToSignal,
  type IceCandidate,
  type IceServer,
  LatestFrames,
  localOffer,
  remoteCandidates,
  unref,
} from "@switchyard/core"

/** The part of `RTCDataChannel` a direct peer path uses (the browser's, or node-datachannel's polyfill). */
export interface PeerDataChannelLike {
  readonly readyState: string
  readonly bufferedAmount: number
  /** Where the lossy channel says it drained below `bufferedAmountLowThreshold`: what waits is sent. */
  bufferedAmountLowThreshold?: number
  onbufferedamountlow?: ((event: never) => void) | null
  onopen: ((event: never) => void) | null
  onmessage: ((event: never) => void) | null
  onclose: ((event: never) => void) | null
  onerror: ((event: never) => void) | null
  send(data: string): void
  close(): void
}

interface Description {
  readonly type: string
  readonly sdp?: string | undefined
}

/** The part of `RTCPeerConnection` a direct peer path uses. */
export interface RtcPeerConnectionLike {
  createDataChannel(
    label: string,
    options?: { ordered?: boolean; maxRetransmits?: number; negotiated?: boolean; id?: number },
  ): PeerDataChannelLike
  createOffer(): Promise<Description>
  createAnswer(): Promise<Description>
  setLocalDescription(description: Description): Promise<void>
  setRemoteDescription(description: { readonly type: string; readonly sdp: string }): Promise<void>
  addIceCandidate(candidate: IceCandidate): Promise<void>
  readonly localDescription: { readonly type: string; readonly sdp: string } | null
  readonly signalingState: string
  onicecandidate: ((event: never) => void) | null
  ondatachannel: ((event: never) => void) | null
  close(): void
}

/** An `RTCPeerConnection` constructor, for `peers({ RTCPeerConnection })` where the platform has none (Node). */
export type RtcPeerConnectionConstructor = new (configuration: { iceServers: IceServer[] }) => RtcPeerConnectionLike

/** The label of a peer connection's data channel. */
const PEER_CHANNEL = "switchyard-peer"
/**
 * The lossy channel, for unreliable peer channels: unordered, each message sent once. Negotiated (both
 * sides make it with the same id) rather than announced, as the WebRTC transport's unreliable channel is:
 * node-datachannel reports an announced channel's options as the defaults (docs/delivery.md).
 */
const LOSSY_CHANNEL = "switchyard-peer-latest"
const LOSSY_OPTIONS = { ordered: false, maxRetransmits: 0, negotiated: true, id: 16 } as const
/**
 * An unreliable message is written on the lossy channel only while it holds at most this many bytes
 * unsent; above it, the newest message per channel waits for `bufferedamountlow` and older ones are
 * dropped (docs/peers.md#unreliable-peer-channels), as the WebRTC transport does with its own.
 */
export const LOSSY_BUFFERED_BYTES = 64 * 1024

export interface DirectEvents {
  /** The data channel is open: messages may go direct. */
  open(): void
  /** A message on either channel (the receiver tells them apart by their tag). */
  message(text: string): void
  /** The channel closed, or could not be made; never called twice, nor after `close()`. */
  close(why: string): void
}

/** One attempt at a direct data channel between two clients, signalled over their sessions. */
export interface DirectPath {
  /** An offer, answer or candidate from the other client, passed on by the server. */
  signal(kind: "offer" | "answer" | "candidate", data: unknown): void
  /** Sends on the open channel; false when the channel refused (it is then closing). */
  send(text: string): boolean
  /**
   * Sends on the lossy channel; false when it is not open (the message then takes the relay). While the
   * channel holds more than `LOSSY_BUFFERED_BYTES` unsent, the message waits instead, replacing the one
   * of its `slot` (its peer channel) that waited.
   */
  sendLossy(text: string, slot: object): boolean
  close(): void
}

/**
 * Sets up the data channel of a peer connection: the side that connected (`caller`) makes the channel
 * and the offer, the other answers. Candidates wait for the descriptions they belong to, in both
 * directions. node-datachannel needs its ICE transport before it can take an answer's candidates, so
 * the caller applies the answer only after its first local candidate (or a second), as the WebRTC
 * transport does (docs/webrtc-implementations.md). With `lossy`, both sides also make the lossy channel.
 */
export function openDirect(
  Peer: RtcPeerConnectionConstructor,
  caller: boolean,
  iceServers: readonly IceServer[],
  timeoutMs: number,
  send: (kind: "offer" | "answer" | "candidate", data: unknown) => void,
  events: DirectEvents,
  lossy: boolean,
): DirectPath {
  let done = false
  let channel: PeerDataChannelLike | undefined
  const peer = new Peer({ iceServers: [...iceServers] })
  const read = ((event: { readonly data: unknown }) => {
    // A throwing handler would be an uncaught exception in node-datachannel.
    try {
      if (!done && typeof event.data === "string") events.message(event.data)
    } catch {
      // reported by the receiver
    }
  }) as never
  let lossyChannel: PeerDataChannelLike | undefined
  const waiting = new LatestFrames()
  const congested = () => (lossyChannel?.bufferedAmount ?? 0) > LOSSY_BUFFERED_BYTES
  const writeLossy = (text: string) => {
    try {
      lossyChannel?.send(text)
    } catch {
      // A lossy message may be lost anyway; the channel's close event follows a failure.
    }
  }
  /**
   * The caller makes it before its offer; the callee after taking the offer, as the WebRTC server does:
   * node-datachannel would otherwise make an offer of its own for it.
   */
  const makeLossy = () => {
    if (!lossy || done) return
    lossyChannel = peer.createDataChannel(LOSSY_CHANNEL, { ...LOSSY_OPTIONS })
    lossyChannel.onmessage = read
    lossyChannel.bufferedAmountLowThreshold = LOSSY_BUFFERED_BYTES
    lossyChannel.onbufferedamountlow = () => waiting.flush(writeLossy, congested)
    // Losing the lossy channel is no reason to leave the direct path: unreliable messages take the relay.
    lossyChannel.onclose = lossyChannel.onerror = () => {
      lossyChannel = undefined
      waiting.clear()
    }
  }
  const finish = (why: string, notify: boolean) => {
    if (done) return
    done = true
    clearTimeout(timer)
    try {
      // A channel that never opened keeps node-datachannel's event loop alive unless it is closed too.
      channel?.close()
      lossyChannel?.close()
      peer.close()
    } catch {
      // already closed
    }
    if (notify) events.close(why)
  }
  const timer = setTimeout(() => {
    if (channel?.readyState !== "open") finish(`no data channel within ${timeoutMs} ms`, true)
  }, timeoutMs)
  unref(timer)

  const attach = (c: PeerDataChannelLike) => {
    channel = c
    c.onopen = () => {
      if (!done) events.open()
    }
    c.onmessage = read
    c.onclose = () => finish("the data channel closed", true)
    c.onerror = () => finish("the data channel failed", true)
  }

  /** Whether local candidates may go out: the callee's after its answer, the caller's after the answer is set. */
  let trickling = false
  const localEarly: Array<IceCandidate | null> = []
  const remote = remoteCandidates(peer)
  const sendCandidate = (c: IceCandidate | null) => send("candidate", candidateToSignal(c))
  peer.onicecandidate = ((event: { readonly candidate: IceCandidate | null }) => {
    if (done) return
    if (trickling) sendCandidate(event.candidate)
    else localEarly.push(event.candidate)
  }) as never
  const trickle = () => {
    trickling = true
    for (const c of localEarly.splice(0)) sendCandidate(c)
  }
  /** The callee's answer, then its candidates (the caller's offer carries none: they follow the answer). */
  const answerWith = (description: Description) => {
    const sdp = peer.localDescription?.sdp ?? description.sdp
    if (!sdp) throw new Error("no local description")
    send("answer", { type: "answer", sdp })
    trickle()
  }
  const remoteApplied = async () => {
    // Only now may the callee reach the caller: a DTLS handshake that reached the caller before its
    // answer was set would fail its fingerprint check for good (node-datachannel, "unknown CA").
    if (caller) trickle()
    await remote.described()
  }
  const failed = () => finish("the direct connection could not be set up", true)

  if (caller) {
    attach(peer.createDataChannel(PEER_CHANNEL, { ordered: true }))
    makeLossy()
    localOffer(peer)
      .then((sdp) => {
        if (!done) send("offer", { type: "offer", sdp })
      })
      .catch(failed)
  } else {
    peer.ondatachannel = ((event: { readonly channel: PeerDataChannelLike }) => {
      if (done) return event.channel.close()
      attach(event.channel)
      // The channel may already be open when it is handed over.
      if (event.channel.readyState === "open") events.open()
    }) as never
  }

  return {
    signal(kind, data) {
      if (done) return
      if (kind === "candidate") {
        if (data === null) return
        remote.add(data as IceCandidate)
        return
      }
      const description = data as { type: string; sdp: string }
      if (kind === "answer" && caller) {
        void peer.setRemoteDescription(description).then(remoteApplied).catch(failed)
        return
      }
      if (kind === "offer" && !caller) {
        void (async () => {
          await peer.setRemoteDescription(description)
          makeLossy()
          const answer = await peer.createAnswer()
          await peer.setLocalDescription(answer)
          if (done) return
          answerWith(answer)
          // As the WebRTC server does: the caller's candidates go in once the answer is made.
          await remoteApplied()
        })().catch(failed)
      }
    },
    send(text) {
      if (done || channel?.readyState !== "open") return false
      try {
        channel.send(text)
        return true
      } catch {
        // node-datachannel reads "open" for a moment after a close, then throws.
        finish("the data channel refused a message", true)
        return false
      }
    },
    sendLossy(text, slot) {
      if (done || lossyChannel?.readyState !== "open") return false
      waiting.put(slot, text)
      waiting.flush(writeLossy, congested)
      return true
    },
    close() {
      finish("closed", false)
    },
  }
}
