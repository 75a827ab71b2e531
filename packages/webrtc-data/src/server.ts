import {
  candidateToSignal,
  frameCap,
  type IceCandidate,
  type IceServer,
  type Link,
  remoteCandidates,
  type ServerLinkEvents,
  type SignalKind,
} from "@switchyard/core"
import type { RunningTransport, ServerTransport, SignalSession } from "@switchyard/server-node"
import { channelLink, type DataChannelLike, UNRELIABLE_CHANNEL, UNRELIABLE_CHANNEL_OPTIONS } from "./channelLink.ts"
import { SESSION_CHANNEL } from "./client.ts"

/**
 * node-datachannel is an optional peer dependency (a browser app that only uses `webrtcTransport()` must
 * not install a native module): loaded here once, and `webrtcServer()` says what to install when it is
 * missing and no `RTCPeerConnection` is given.
 */
const nodeDataChannel: { readonly RTCPeerConnection: unknown } | Error = await import(
  "node-datachannel/polyfill"
).catch((cause: unknown) => (cause instanceof Error ? cause : new Error(String(cause))))

function defaultPeerConnection(): ServerPeerConstructor {
  if (!(nodeDataChannel instanceof Error)) return nodeDataChannel.RTCPeerConnection as ServerPeerConstructor
  throw new Error(
    "webrtcServer() needs node-datachannel, which could not be loaded: install it beside @switchyard/webrtc-data " +
      "(npm i node-datachannel), or pass options.RTCPeerConnection",
    { cause: nodeDataChannel },
  )
}

/** The part of `RTCPeerConnection` the server peer uses. */
interface ServerPeer {
  setRemoteDescription(description: { readonly type: string; readonly sdp: string }): Promise<void>
  createAnswer(): Promise<{ readonly type: string; readonly sdp?: string | undefined }>
  setLocalDescription(description: { readonly type: string; readonly sdp?: string | undefined }): Promise<void>
  addIceCandidate(candidate: IceCandidate): Promise<void>
  createDataChannel(label: string, options: typeof UNRELIABLE_CHANNEL_OPTIONS): DataChannelLike
  readonly localDescription: { readonly type: string; readonly sdp: string } | null
  onicecandidate: ((event: never) => void) | null
  ondatachannel: ((event: never) => void) | null
  close(): void
}

type ServerPeerConstructor = new (configuration: { iceServers: IceServer[] }) => ServerPeer

/** Options of `webrtcServer`. */
export interface WebRtcServerOptions {
  /** ICE servers (STUN, TURN with credentials), used by the server peer and passed to clients in the offer. */
  readonly iceServers?: readonly IceServer[]
  /** Attempts a session may have open at once (each is a peer connection). Default 2. */
  readonly maxAttemptsPerSession?: number
  /** Remote ICE candidates taken per attempt; more are ignored. Default 64. */
  readonly maxCandidates?: number
  /** An attempt whose channel has not opened by then is dropped (ms). Default 10 000. */
  readonly connectTimeoutMs?: number
  /** Defaults to node-datachannel's W3C `RTCPeerConnection`. */
  readonly RTCPeerConnection?: ServerPeerConstructor
}

/** One attempt: a peer connection set up for one session, until its channel is handed over or dropped. */
interface Attempt {
  readonly peer: ServerPeer
  candidates: number
  readonly remote: ReturnType<typeof remoteCandidates>
  readonly timer: ReturnType<typeof setTimeout>
  link: Link | undefined
  /** Settles when the peer connection is closed and the attempt forgotten. */
  readonly gone: Promise<void>
  readonly forgotten: () => void
}

/**
 * The server side of WebRTC data channels, a signalled transport: answers the offers sessions send in
 * SIGNAL frames, and hands each session channel that opens to the server as a link (docs/webrtc.md).
 * Only a session can start an attempt, a session has at most `maxAttemptsPerSession` at once, and every
 * signal is size-checked by the protocol codec first.
 *
 * @example
 * ```ts
 * import { createServer, defaultTransports } from "@switchyard/server-node"
 * import { webrtcServer } from "@switchyard/webrtc-data/server"
 *
 * createServer(Chat, handlers, { transports: [...defaultTransports(), webrtcServer()] })
 * ```
 */
export function webrtcServer(options: WebRtcServerOptions = {}): ServerTransport {
  const Peer = options.RTCPeerConnection ?? defaultPeerConnection()
  const iceServers = [...(options.iceServers ?? [])]
  const maxAttempts = options.maxAttemptsPerSession ?? 2
  const maxCandidates = options.maxCandidates ?? 64
  const connectTimeoutMs = options.connectTimeoutMs ?? 10_000
  const sessions = new Map<SignalSession, Map<number, Attempt>>()
  let closed = false

  /** Lets go of an attempt whose peer connection is closed. */
  const forget = (from: SignalSession, id: number, attempt: Attempt) => {
    clearTimeout(attempt.timer)
    attempt.forgotten()
    const attempts = sessions.get(from)
    if (attempts?.get(id) !== attempt) return
    attempts.delete(id)
    if (attempts.size === 0) sessions.delete(from)
  }

  /**
   * Ends an attempt. One with a link closes it, and counts toward `maxAttemptsPerSession` until its peer
   * connection is closed too, which waits for the client to close the channel (`CLOSE_GRACE_MS` after the
   * channel has sent what it holds, `MAX_CLOSE_WAIT_MS` at most).
   */
  const drop = (from: SignalSession, id: number) => {
    const attempt = sessions.get(from)?.get(id)
    if (!attempt) return
    clearTimeout(attempt.timer)
    if (attempt.link) return attempt.link.close(1001, "ATTEMPT_ENDED")
    forget(from, id, attempt)
    closePeer(attempt.peer)
  }

  const start = (from: SignalSession, id: number, offer: { type: string; sdp: string }) => {
    let attempts = sessions.get(from)
    if (attempts?.has(id)) return from.reply(id, "end", "attempt already started")
    if ((attempts?.size ?? 0) >= maxAttempts) return from.reply(id, "end", "too many attempts")
    attempts ??= new Map()
    sessions.set(from, attempts)
    const peer = new Peer({ iceServers: iceServers.map(forNodeDatachannel) })
    let forgotten = () => {}
    const gone = new Promise<void>((resolve) => {
      forgotten = resolve
    })
    const attempt: Attempt = {
      peer,
      gone,
      forgotten,
      candidates: 0,
      remote: remoteCandidates(peer),
      link: undefined,
      // Cleared when the channel is handed over: a channel that came but never opened is dropped too.
      timer: setTimeout(() => {
        // The client hears it at once, rather than when its own probe times out.
        from.reply(id, "end", "the channel did not open in time")
        drop(from, id)
      }, connectTimeoutMs),
    }
    attempt.timer.unref?.()
    attempts.set(id, attempt)
    peer.onicecandidate = ((event: { readonly candidate: IceCandidate | null }) => {
      const c = event.candidate
      from.reply(id, "candidate", candidateToSignal(c))
    }) as never
    /** The unreliable channel, made once the offer is set (before it, making a channel would make an offer). */
    let lossy: DataChannelLike | undefined
    peer.ondatachannel = ((event: { readonly channel: DataChannelLike & { readonly label: string } }) => {
      const channel = event.channel
      if (channel.label !== SESSION_CHANNEL || attempt.link) return channel.close()
      let events: ServerLinkEvents | undefined
      // The server may see the client's first message before its own `open` event: whichever comes
      // first hands the link over.
      const accepted = () => {
        if (events) return events
        clearTimeout(attempt.timer)
        events = from.accept(link)
        return events
      }
      const link = channelLink(
        channel,
        {
          open: () => void accepted(),
          frame: (data) => accepted().frame(data),
          close: (code, reason) => void events?.close(code, reason),
        },
        () => {
          forget(from, id, attempt)
          closePeer(peer)
        },
        undefined,
        // The server reads nothing there: a client sends only on the session channel.
        lossy && { channel: lossy, read: false },
        // As the WebSocket transport's cap: past it, no frame can be useful.
        frameCap(from.maxMessageBytes),
      )
      attempt.link = link
      // node-datachannel may report a channel that is already open.
      if (channel.readyState === "open") (channel.onopen as (() => void) | null)?.()
    }) as never
    void (async () => {
      await peer.setRemoteDescription(offer)
      // Negotiated out of band: the server makes its end with the same options as the client.
      lossy = peer.createDataChannel(UNRELIABLE_CHANNEL, { ...UNRELIABLE_CHANNEL_OPTIONS })
      const answer = await peer.createAnswer()
      await peer.setLocalDescription(answer)
      const sdp = peer.localDescription?.sdp ?? answer.sdp
      if (!sdp) throw new Error("no local description")
      from.reply(id, "answer", { type: "answer", sdp })
      await attempt.remote.described()
    })().catch(() => {
      from.reply(id, "end", "could not answer the offer")
      drop(from, id)
    })
  }

  const running: RunningTransport = {
    signal(from, id, kind: SignalKind, data) {
      if (closed) return from.reply(id, "end", "the server is closing")
      const attempt = sessions.get(from)?.get(id)
      switch (kind) {
        case "offer":
          return start(from, id, data as { type: string; sdp: string })
        case "candidate": {
          if (!attempt || data === null || ++attempt.candidates > maxCandidates) return
          const candidate = data as IceCandidate
          attempt.remote.add(candidate)
          return
        }
        case "end":
          return drop(from, id)
        case "answer":
          // The server never makes offers: an answer from a client is refused.
          return from.reply(id, "end", "the server makes no offers")
      }
    },
    sessionEnded(from) {
      for (const id of [...(sessions.get(from)?.keys() ?? [])]) drop(from, id)
    },
    async close() {
      closed = true
      // A link's peer connection goes once the client has closed the channel (its BYE read), within
      // MAX_CLOSE_WAIT_MS: closing the server waits for that, as it waits for WebSocket close handshakes.
      const gone = [...sessions.values()].flatMap((attempts) => [...attempts.values()].map((a) => a.gone))
      for (const [from, attempts] of [...sessions]) for (const id of [...attempts.keys()]) drop(from, id)
      await Promise.all(gone)
    },
  }
  return {
    id: "webrtc",
    offer: { duplex: true, binary: true, ordered: true, iceServers },
    reach: "signalled",
    start: () => running,
  }
}

function closePeer(peer: ServerPeer): void {
  try {
    peer.close()
  } catch {
    // Closing twice, or a peer that failed: nothing left to release.
  }
}

/**
 * node-datachannel joins a TURN server's username and credential into one URL (`turn:USER:CRED@host`)
 * and percent-decodes them, so they go percent-encoded: short-lived credentials have a `:` in the
 * username (`<expiry>:<user>`, coturn's `use-auth-secret`), and base64 has `+`, `/` and `=`. Clients get
 * the raw values in the offer.
 */
function forNodeDatachannel(server: IceServer): IceServer {
  const { username, credential } = server
  if (username === undefined || credential === undefined) return { ...server }
  return { ...server, username: encodeURIComponent(username), credential: encodeURIComponent(credential) }
}
