import {
  body,
  type CompiledContract,
  clientPeerDataError,
  type ErrorCode,
  type IceServer,
  stringifyPayload,
} from "@switchyard/core"
import type * as Effect from "effect/Effect"
import { encodePayload } from "./encodePayload.ts"
import { AbandonableEffects, decide } from "./policies.ts"
import type { HandlerServices } from "./services.ts"

/** One side of a peer connection as `authorize` sees it. */
export interface PeerInfo<A = unknown> {
  /** The client's public peer id. */
  readonly peerId: string
  /** Its session's public id. */
  readonly sessionId: string
  /** What `authenticate` returned for it. */
  readonly auth: A
}

/**
 * The server option `peers`: whether and how clients may connect to each other (docs/peers.md). `R`: the
 * services `authorize`'s Effect may require, those of the server's `layer` option (none without one).
 */
export interface PeerOptions<A = undefined, R = never> {
  /**
   * Decides whether `from` may open a connection to `to`. Called once per `connect`; anything but `true`
   * (or a Promise of it) refuses with `PEER_FORBIDDEN`, and so does a throw (reported to `onError`). An
   * Effect runs with the `layer`'s services: it allows by succeeding with `true`; its failure refuses as
   * `false` does, its defect as a throw does (reported); it is interrupted if the caller's session ends.
   * @example
   * ```ts
   * import type { PeerOptions } from "@switchyard/server-node"
   * import * as Context from "effect/Context"
   * import type * as Effect from "effect/Effect"
   *
   * class Friends extends Context.Service<Friends, { are(a: string, b: string): Effect.Effect<boolean> }>()("app/Friends") {}
   * // createServer's `peers`, with `authenticate` returning `{ userId }` and `layer` providing Friends.
   * const peers: PeerOptions<{ userId: string }, Friends> = {
   *   authorize: ({ from, to }) => Friends.use((friends) => friends.are(from.auth.userId, to.auth.userId)),
   * }
   * ```
   */
  readonly authorize: (request: {
    readonly from: PeerInfo<A>
    readonly to: PeerInfo<A>
  }) => boolean | Promise<boolean> | Effect.Effect<boolean, unknown, R>
  /**
   * Whether peers may try a direct data channel. Default true; false keeps every connection on the
   * server relay (offers are refused with `PEER_SIGNAL_REFUSED`).
   */
  readonly direct?: boolean
  /** ICE servers (STUN, TURN) the clients' RTCPeerConnections use for direct channels. Default none. */
  readonly iceServers?: readonly IceServer[]
}

/** A session as the peer hub sees it. */
export interface PeerEndpoint {
  readonly peerId: string
  readonly id: string
  readonly auth: unknown
  /** Sends a PEER frame body over the session (sequenced and replayed like any data frame). */
  sendPeer(frameBody: string): void
  /**
   * Whether a relayed message of `size` characters leaves half the session's replay buffer free: a peer
   * that sends faster than the other reads must not make the other's session overflow.
   */
  roomFor(size: number): boolean
  /**
   * Whether an unreliable peer message is worth sending now: the session has a live connection and is
   * reading (at most `maxPending` frames unacknowledged). Otherwise it would arrive stale, if at all, so
   * it is dropped.
   */
  keepsUp(maxPending: number): boolean
}

export interface PeerLimits {
  /** Peer connections one session may have open or being set up at once. */
  readonly maxPeerConnections: number
  /** ICE candidates each side may send per peer connection. */
  readonly maxPeerCandidates: number
  /** Frames a receiver may have unacknowledged for an unreliable peer message to be relayed to it. */
  readonly maxUnreliablePeerPending: number
}

interface PeerLink {
  readonly id: number
  /** The side that called `connect`; the only one that may send the offer. */
  readonly from: PeerEndpoint
  readonly to: PeerEndpoint
  /** The `connect` reference of `from`, echoed in `open` or `refused`. */
  readonly ref: number
  open: boolean
  offered: boolean
  answered: boolean
  /** Candidates sent by `from` and by `to`. */
  candidates: [number, number]
}

const json = (value: unknown) => stringifyPayload(value) ?? "null"
const problem = (code: ErrorCode, message: string, n?: number) =>
  json(n === undefined ? { code, message } : { code, message, n })

/**
 * Connections between clients of one server: the server's half of `client.peers`. It authorises each
 * connection, passes the clients' WebRTC signalling between them after checking it (only the caller
 * offers, once; only the callee answers, once; candidates capped), and relays messages whose payloads
 * it validates against the contract. Every refusal is a PEER `error` or `refused` frame with a stable
 * code; none touches the connection's state.
 */
export class PeerHub {
  private readonly endpoints = new Map<string, PeerEndpoint>()
  private readonly links = new Map<number, PeerLink>()
  /** Connections (open, or awaiting an answer or `authorize`) per session, by peer id. */
  private readonly counts = new Map<string, number>()
  /** The `connect` references of each session waiting for `authorize`. */
  private readonly authorizing = new Map<PeerEndpoint, Set<number>>()
  /** Each session's `authorize` Effects, interrupted when it leaves. Made by its first `connect`. */
  private readonly effects = new Map<PeerEndpoint, AbandonableEffects>()
  private nextId = 1

  constructor(
    private readonly compiled: CompiledContract,
    private readonly options: PeerOptions<unknown> | undefined,
    private readonly limits: PeerLimits,
    private readonly onError: (error: unknown, context: { readonly sessionId?: string }) => void,
    /** What `authorize`'s Effects run with. */
    private readonly services: HandlerServices,
  ) {
    if (options !== undefined && typeof options.authorize !== "function") {
      throw new TypeError("switchyard: the peers option needs an authorize function")
    }
  }

  /**
   * A session started: its peer id can be connected to. Without the `peers` option nothing can connect
   * (`connect` refuses first), so no session is listed.
   */
  join(endpoint: PeerEndpoint): void {
    if (this.options) this.endpoints.set(endpoint.peerId, endpoint)
  }

  /**
   * A session ended, or `moved` to another node (whose hub knows none of its connections): its
   * connections close, and the other sides hear it; a session that moved hears it too, in its replay,
   * where there is room: a notice never overflows the replay buffer in the middle of a hand-over (without
   * it, the new node refuses the connection's next message `PEER_CLOSED`).
   */
  leave(endpoint: PeerEndpoint, moved = false): void {
    this.effects.get(endpoint)?.abandon()
    this.effects.delete(endpoint)
    if (!this.options || this.endpoints.get(endpoint.peerId) !== endpoint) return
    this.endpoints.delete(endpoint.peerId)
    this.counts.delete(endpoint.peerId)
    const why = problem("PEER_CLOSED", "the session moved to another server node")
    const tell = (frame: string) => endpoint.roomFor(frame.length) && endpoint.sendPeer(frame)
    for (const ref of (moved && this.authorizing.get(endpoint)) || []) tell(body.peer(ref, "refused", why))
    this.authorizing.delete(endpoint)
    for (const link of [...this.links.values()]) {
      if (link.from !== endpoint && link.to !== endpoint) continue
      this.drop(link)
      if (moved)
        tell(
          !link.open && link.from === endpoint
            ? body.peer(link.ref, "refused", why)
            : body.peer(link.id, "closed", why),
        )
      if (!link.open && link.to === endpoint) {
        link.from.sendPeer(body.peer(link.ref, "refused", problem("PEER_NOT_FOUND", "the peer went away")))
      } else {
        const other = link.from === endpoint ? link.to : link.from
        other.sendPeer(body.peer(link.id, "closed", problem("PEER_CLOSED", "the peer's session ended")))
      }
    }
  }

  /** A PEER frame from `from`. Never throws. */
  receive(from: PeerEndpoint, conn: number, op: string, data: unknown): void {
    const invalid = clientPeerDataError(op, data)
    if (invalid !== undefined) {
      const code = op === "relay" || op === "latest" ? "INVALID_INPUT" : "PEER_SIGNAL_REFUSED"
      return from.sendPeer(body.peer(conn, op === "connect" ? "refused" : "error", problem(code, invalid)))
    }
    if (op === "connect") return this.connect(from, conn, data as string)
    const link = this.links.get(conn)
    // A connection that is not this session's looks exactly like one that does not exist.
    if (!link || (link.from !== from && link.to !== from)) {
      if (op === "close") return
      const code = op === "relay" || op === "latest" ? "PEER_CLOSED" : "PEER_SIGNAL_REFUSED"
      return this.refuse(from, conn, code, `no peer connection ${conn} of this session`)
    }
    const other = link.from === from ? link.to : link.from
    switch (op) {
      case "accept":
      case "reject":
        return this.answerConnect(link, from, op, data)
      case "close":
        this.drop(link)
        if (!link.open) {
          return link.from.sendPeer(body.peer(link.ref, "refused", problem("PEER_REJECTED", "the peer closed it")))
        }
        return other.sendPeer(body.peer(link.id, "closed", problem("PEER_CLOSED", "the peer closed the connection")))
      case "relay":
        return this.relay(link, from, other, data as readonly [number, string, unknown])
      case "latest":
        return this.latest(link, from, other, data as readonly [number, string, unknown])
      default:
        return this.signal(link, from, other, op, data)
    }
  }

  private connect(from: PeerEndpoint, ref: number, target: string): void {
    const refused = (code: ErrorCode, message: string) =>
      from.sendPeer(body.peer(ref, "refused", problem(code, message)))
    const options = this.options
    if (!options) return refused("PEER_FORBIDDEN", "this server takes no peer connections")
    const to = this.endpoints.get(target)
    if (!to || to === from) return refused("PEER_NOT_FOUND", "no client with that peer id")
    if (this.full(from)) {
      return refused("LIMIT_EXCEEDED", `more than ${this.limits.maxPeerConnections} peer connections`)
    }
    this.count(from, 1)
    const waiting = this.authorizing.get(from) ?? new Set<number>()
    this.authorizing.set(from, waiting.add(ref))
    const request = {
      from: { peerId: from.peerId, sessionId: from.id, auth: from.auth },
      to: { peerId: to.peerId, sessionId: to.id, auth: to.auth },
    }
    decide(
      () => options.authorize(request),
      false,
      (verdict) => {
        this.count(from, -1)
        if (this.endpoints.get(from.peerId) !== from) return
        waiting.delete(ref)
        if (verdict instanceof Error) this.onError(verdict, { sessionId: from.id })
        if (verdict !== true) return refused("PEER_FORBIDDEN", "not allowed to connect to that peer")
        if (this.endpoints.get(to.peerId) !== to) return refused("PEER_NOT_FOUND", "the peer went away")
        if (this.full(from) || this.full(to)) {
          return refused("LIMIT_EXCEEDED", `more than ${this.limits.maxPeerConnections} peer connections`)
        }
        const link: PeerLink = {
          id: this.nextId++,
          from,
          to,
          ref,
          open: false,
          offered: false,
          answered: false,
          candidates: [0, 0],
        }
        this.links.set(link.id, link)
        this.count(from, 1)
        this.count(to, 1)
        to.sendPeer(body.peer(link.id, "incoming", json(this.setup(from))))
      },
      this.effectsOf(from),
    )
  }

  /** What `from`'s `authorize` Effects run with: interrupted when it leaves. */
  private effectsOf(from: PeerEndpoint): AbandonableEffects {
    const effects = this.effects.get(from) ?? new AbandonableEffects(this.services)
    this.effects.set(from, effects)
    return effects
  }

  private answerConnect(link: PeerLink, side: PeerEndpoint, op: "accept" | "reject", reason: unknown): void {
    if (side !== link.to || link.open) {
      return this.refuse(side, link.id, "PEER_SIGNAL_REFUSED", `only the called side may ${op}, once`)
    }
    if (op === "reject") {
      this.drop(link)
      const why = typeof reason === "string" && reason !== "" ? `: ${reason}` : ""
      return link.from.sendPeer(body.peer(link.ref, "refused", problem("PEER_REJECTED", `the peer refused${why}`)))
    }
    link.open = true
    link.from.sendPeer(body.peer(link.id, "open", json({ ref: link.ref, ...this.setup(link.to) })))
  }

  /** Offer, answer or candidate: checked against the connection's state, then passed on as sent. */
  private signal(link: PeerLink, side: PeerEndpoint, other: PeerEndpoint, op: string, data: unknown): void {
    const refuse = (message: string) => this.refuse(side, link.id, "PEER_SIGNAL_REFUSED", message)
    if (!link.open) return refuse("the connection is not open")
    if (this.options?.direct === false) return refuse("this server keeps peer connections on its relay")
    const caller = side === link.from
    if (op === "offer") {
      if (!caller) return refuse("only the side that connected may offer")
      if (link.offered) return refuse("this connection already has its offer")
      link.offered = true
    } else if (op === "answer") {
      if (caller) return refuse("only the called side may answer")
      if (!link.offered) return refuse("an answer needs an offer first")
      if (link.answered) return refuse("this connection already has its answer")
      link.answered = true
    } else {
      if (!link.offered) return refuse("a candidate needs an offer first")
      const index = caller ? 0 : 1
      if (link.candidates[index] >= this.limits.maxPeerCandidates) {
        return refuse(`more than ${this.limits.maxPeerCandidates} candidates`)
      }
      link.candidates[index]++
    }
    other.sendPeer(body.peer(link.id, op, json(data)))
  }

  /**
   * A message for the other side: validated against the channel's schema and re-encoded, so that the
   * receiver gets the canonical form. A refused one is an `error` to the sender and a `skip` to the
   * receiver, whose count of the connection's messages must not wait for it.
   */
  private relay(
    link: PeerLink,
    side: PeerEndpoint,
    other: PeerEndpoint,
    [n, name, message]: readonly [number, string, unknown],
  ): void {
    if (!link.open) return this.refuse(side, link.id, "PEER_CLOSED", "the connection is not open yet", n)
    const channel = this.compiled.peers.get(name)
    const decoded = channel?.message.decode(message)
    const encoded = channel && decoded?.ok ? encodePayload(channel.message, decoded.value) : undefined
    if (encoded === undefined) {
      other.sendPeer(body.peer(link.id, "skip", String(n)))
      if (!channel)
        return this.refuse(side, link.id, "UNKNOWN_CHANNEL", `no such peer channel: ${JSON.stringify(name)}`, n)
      const why = decoded && !decoded.ok ? decoded.error : "the message cannot be encoded"
      return this.refuse(side, link.id, "INVALID_INPUT", `${name}: ${why}`, n)
    }
    const relayed = body.peer(link.id, "relay", `[${n},${JSON.stringify(name)},${encoded}]`)
    if (!other.roomFor(relayed.length + 24)) {
      // The sender outpaces the receiver: the connection ends, the receiver's session does not.
      this.drop(link)
      const why = problem("QUEUE_FULL", "the peer is not keeping up with the relayed messages")
      side.sendPeer(body.peer(link.id, "closed", why))
      return other.sendPeer(body.peer(link.id, "closed", why))
    }
    other.sendPeer(relayed)
  }

  /**
   * A message of an unreliable channel for the other side (docs/peers.md#unreliable-peer-channels):
   * dropped, without a word to either side, when the receiver is not keeping up or has no connection;
   * else validated and re-encoded like a relayed one. It never closes the connection for back-pressure;
   * a refused one is an `error` to the sender and nothing to the receiver, which counts no gaps.
   * Checked by cost: a closed connection, an unknown or a reliable channel are refused whatever the
   * receiver's state; then a receiver not keeping up drops the message unread, so that a flood to a
   * stalled receiver costs no decoding (an invalid payload is refused only when it would have gone on).
   */
  private latest(
    link: PeerLink,
    side: PeerEndpoint,
    other: PeerEndpoint,
    [n, name, message]: readonly [number, string, unknown],
  ): void {
    if (!link.open) return this.refuse(side, link.id, "PEER_CLOSED", "the connection is not open yet", n)
    const channel = this.compiled.peers.get(name)
    if (!channel)
      return this.refuse(side, link.id, "UNKNOWN_CHANNEL", `no such peer channel: ${JSON.stringify(name)}`, n)
    if (channel.delivery !== "unreliable") {
      return this.refuse(side, link.id, "INVALID_INPUT", `${name}: a reliable channel's messages are relayed`, n)
    }
    if (!other.keepsUp(this.limits.maxUnreliablePeerPending)) return
    const decoded = channel.message.decode(message)
    const encoded = decoded.ok ? encodePayload(channel.message, decoded.value) : undefined
    if (encoded === undefined) {
      const why = decoded.ok ? "the message cannot be encoded" : decoded.error
      return this.refuse(side, link.id, "INVALID_INPUT", `${name}: ${why}`, n)
    }
    const forwarded = body.peer(link.id, "latest", `[${n},${JSON.stringify(name)},${encoded}]`)
    if (other.roomFor(forwarded.length + 24)) other.sendPeer(forwarded)
  }

  private refuse(side: PeerEndpoint, conn: number, code: ErrorCode, message: string, n?: number): void {
    side.sendPeer(body.peer(conn, "error", problem(code, message, n)))
  }

  private setup(peer: PeerEndpoint) {
    return { peer: peer.peerId, iceServers: this.options?.iceServers ?? [], direct: this.options?.direct !== false }
  }

  private drop(link: PeerLink): void {
    if (!this.links.delete(link.id)) return
    this.count(link.from, -1)
    this.count(link.to, -1)
  }

  private full(endpoint: PeerEndpoint): boolean {
    return (this.counts.get(endpoint.peerId) ?? 0) >= this.limits.maxPeerConnections
  }

  private count(endpoint: PeerEndpoint, delta: number): void {
    if (this.endpoints.get(endpoint.peerId) !== endpoint) return
    this.counts.set(endpoint.peerId, (this.counts.get(endpoint.peerId) ?? 0) + delta)
  }
}
