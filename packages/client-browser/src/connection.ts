import {
  body,
  type ClientLinkEvents,
  type ClientTransport,
  closeCodeOf,
  codeOfClose,
  control,
  decodeServerFrame,
  FrameType,
  fallback,
  Heartbeat,
  isErrorCode,
  isTransportId,
  type Link,
  PROTOCOL_VERSION,
  plan,
  rememberFailure,
  rememberSuccess,
  type ServerDataFrame,
  type ServerOffer,
  Session,
  type SessionLimits,
  type SessionOptions,
  type SignalKind,
  type Signalling,
  type SwitchyardError,
  switchyardError,
  type TransportId,
  type TransportOffer,
  type UnreliableFrame,
  unref,
} from "@switchyard/core"
import { type BackoffOptions, backoffDelay } from "./backoff.ts"
import type { TransportStore } from "./memory.ts"
import type { FetchLike } from "./transports/http.ts"

export interface ConnectionOptions {
  readonly url: string
  /** What this client can run, in its order of preference. */
  readonly transports: readonly ClientTransport[]
  /** Whose order ranks the transports: the client's when it listed them itself, else the server's. */
  readonly prefer: "client" | "server"
  readonly session: SessionOptions
  readonly maxDepth: number
  readonly reconnect: BackoffOptions
  readonly connectTimeoutMs: number
  readonly negotiation: NegotiationSettings
  /** For the negotiate request; without one, the client plans without the server's offer. */
  readonly fetch: FetchLike | undefined
}

/** How negotiation behaves (docs/negotiation.md); every field has a default in `client.ts`. */
export interface NegotiationSettings {
  /** A probe link that has not echoed the PROBE by then counts as failed (ms). */
  readonly probeTimeoutMs: number
  /** A transport that failed is skipped for this long, across page loads when there is storage (ms). */
  readonly rememberFailureMs: number
  /** After a fallback, or when every probe failed, the client tries to move up again after this (ms). */
  readonly upgradeRetryMs: number
  /** A link that dies sooner than this after its handshake counts against its transport (ms). */
  readonly stableLinkMs: number
  /** Deaths in a row of short-lived links after which the session falls back to the next transport. */
  readonly maxShortLinks: number
  readonly store: TransportStore
}

/** What the connection tells the client runtime. */
export interface ConnectionEvents {
  /**
   * A handshake completed: `resumed` when the server still had the session, else a new one. `reason` says
   * why the session is on this transport.
   */
  ready(info: {
    readonly transport: ClientTransport
    readonly sessionId: string
    readonly resumed: boolean
    readonly reason: TransportReason
    /** The session's peer id, when the server takes peer connections. */
    readonly peerId: string | undefined
  }): void
  /** A data frame arrived in order, exactly once. */
  data(frame: ServerDataFrame): void
  /** An UNRELIABLE frame arrived on the session's link (or its lossy channel), after the handshake. */
  unreliable(frame: UnreliableFrame): void
  /** The link went down; the session waits for the next one. */
  down(error: SwitchyardError): void
  /**
   * The server ended the session (BYE, or it did not know our token). Called while the session still
   * holds its frames (so `session.written` tells what may have reached the server); `fresh` follows once
   * the session is empty and ready to carry a new one.
   */
  lost(error: SwitchyardError): void
  /** The session was reset after `lost`: frames sent from now on start the new session. */
  fresh(): void
  /** The server refused us for good (an unsupported protocol version): no more reconnecting. */
  fatal(error: SwitchyardError): void
  /** A NOTICE or a protocol violation worth reporting. */
  notice(error: SwitchyardError): void
}

/** Why the session is on its transport, as `client.on("transport", (name, reason) => …)` reports it. */
export type TransportReason = "connected" | "resumed" | "new session" | "upgrade" | "fallback"

/**
 * Keeps one session connected: opens a link, runs the HELLO/WELCOME handshake, watches the heartbeat,
 * and on any failure reconnects with backoff and resumes (or, when the server lost the session, starts a
 * new one and says so). Which transport carries the session is negotiated (docs/negotiation.md): the
 * session starts where it is likeliest to connect at once, probes better transports in the background
 * and moves to the first that passes, and falls back down the ladder when its transport keeps failing.
 */
export class Connection {
  readonly session: Session
  private token: string | null = null
  private link: Link | undefined
  /** The transport of `link` (or of the next link to open). */
  private transport: ClientTransport
  private handshaken = false
  private everConnected = false
  private attempt = 0
  private closed = false
  private retryTimer: ReturnType<typeof setTimeout> | undefined
  private connectTimer: ReturnType<typeof setTimeout> | undefined
  private upgradeTimer: ReturnType<typeof setTimeout> | undefined
  private heartbeat: Heartbeat | undefined
  /** The server's offer, once a negotiate answer or a WELCOME carried it. */
  private offer: readonly TransportId[] | undefined
  /** Set while the session moves to a link that passed its probe; the transport it came from. */
  private switchingFrom: ClientTransport | undefined
  /** Set when the next handshake completes a fallback. */
  private fellBack = false
  /** The server's offer in full (ICE servers for WebRTC), once known. */
  private offerDetails: readonly TransportOffer[] = []
  /** The link being probed, if any, and its signalling attempt (WebRTC). */
  private probe:
    | { link: Link; transport: ClientTransport; timer: ReturnType<typeof setTimeout>; attempt: number }
    | undefined
  private signalAttempts = 0
  /** Where SIGNAL frames from the server go, by attempt. */
  private readonly signalListeners = new Map<number, (kind: SignalKind, data: unknown) => void>()
  private probeCount = 0
  /** When the current link's handshake completed, and how many links in a row died young. */
  private linkSince = 0
  private shortLinks = 0
  /**
   * Transports that failed to connect since the last handshake. They are skipped when falling back but
   * not remembered: a server that is down fails every transport. Once one connects, the probes find out
   * which of those above it really fail.
   */
  private readonly skipped = new Set<TransportId>()
  /** The server's limits from the last WELCOME (defaults until then). */
  limits: SessionLimits = defaultLimits

  constructor(
    private readonly options: ConnectionOptions,
    private readonly events: ConnectionEvents,
  ) {
    this.session = new Session(options.session)
    this.transport = options.transports[0] as ClientTransport
  }

  get connected(): boolean {
    return this.handshaken
  }

  /** Picks where to start (negotiating first when nothing is remembered) and connects. */
  start(): void {
    if (this.options.transports.length === 1) return this.open()
    const memory = this.options.negotiation.store.load()
    const remembered = plan(this.planInput(undefined, memory)).start
    if (remembered !== undefined && memory.worked?.id === remembered) {
      // It worked before: connect straight to it, no round trip; WELCOME brings the offer.
      this.transport = this.byId(remembered) ?? this.transport
      return this.open()
    }
    void this.negotiate().then((offer) => {
      if (this.closed) return
      if (offer) this.learnOffer(offer.transports)
      const start = this.choose(this.offer)
      if (start === undefined) {
        return this.fail(switchyardError("CONNECTION_LOST", "the server offers none of this client's transports"))
      }
      this.transport = start
      this.open()
    })
  }

  /** Ends the session: tells the server (BYE) when connected, and stops reconnecting. */
  close(): void {
    if (this.closed) return
    this.closed = true
    if (this.retryTimer !== undefined) clearTimeout(this.retryTimer)
    if (this.upgradeTimer !== undefined) clearTimeout(this.upgradeTimer)
    this.endProbe()
    const link = this.link
    if (link && this.handshaken) link.send(control.bye("CLIENT_CLOSED", "the client closed the session"))
    this.abandon()
    link?.close(1000, "CLIENT_CLOSED")
    this.session.reset()
  }

  /**
   * One negotiate request; `undefined` when it fails or takes longer than a probe may (the client then
   * plans without the offer, and WELCOME brings it).
   */
  private async negotiate(): Promise<ServerOffer | undefined> {
    const fetchImpl = this.options.fetch
    if (!fetchImpl) return undefined
    const url = this.options.url.replace(/^ws(s?):/, "http$1:")
    const abort = new AbortController()
    const timer = setTimeout(() => abort.abort(), this.options.negotiation.probeTimeoutMs)
    unref(timer)
    try {
      const response = await fetchImpl(`${url}${url.includes("?") ? "&" : "?"}negotiate=1`, {
        cache: "no-store",
        signal: abort.signal,
      })
      if (!response.ok) return undefined
      const offer = (await response.json()) as Partial<ServerOffer>
      return Array.isArray(offer.transports) ? (offer as ServerOffer) : undefined
    } catch {
      return undefined
    } finally {
      clearTimeout(timer)
    }
  }

  private learnOffer(transports: readonly TransportOffer[]): void {
    this.offerDetails = transports
    this.offer = transports.map((t) => t.id).filter(isTransportId)
  }

  /** The plan's start among this client's transports. */
  private choose(offer: readonly TransportId[] | undefined): ClientTransport | undefined {
    const result = plan(this.planInput(offer))
    return result.start === undefined ? undefined : this.byId(result.start)
  }

  private planInput(offer: readonly TransportId[] | undefined, memory = this.options.negotiation.store.load()) {
    return {
      supported: this.options.transports.map((t) => t.id),
      offer,
      prefer: this.options.prefer,
      memory,
      now: Date.now(),
    }
  }

  private byId(id: TransportId): ClientTransport | undefined {
    return this.options.transports.find((t) => t.id === id)
  }

  /** Opens a link on `this.transport` and says HELLO on it. */
  private open(): void {
    if (this.closed) return
    const transport = this.transport
    let link: Link | undefined
    const current = () => link !== undefined && link === this.link
    const events: ClientLinkEvents = {
      open: () => {
        if (!current()) return
        link?.send(control.hello(PROTOCOL_VERSION, this.token, this.session.received))
      },
      frame: (data: unknown) => {
        if (current()) this.receive(transport, link as Link, data)
      },
      received: () => (current() && this.handshaken ? this.session.received : 0),
      close: (code: number, reason: string) => {
        if (current()) this.linkClosed(code, reason)
      },
    }
    try {
      link = this.link = transport.connect(this.options.url, events)
    } catch (error) {
      this.link = undefined
      this.events.notice(switchyardError("CONNECTION_LOST", `${transport.id} could not connect`, { cause: error }))
      this.skipped.add(transport.id)
      return this.retry(true)
    }
    this.watchHandshake(transport, link)
  }

  /** The current link closed (from either side): the session goes down and reconnects. */
  private linkClosed(code: number, reason: string): void {
    const errorCode = isErrorCode(reason) ? reason : codeOfClose(code)
    this.down(switchyardError(errorCode, `connection closed (${code}${reason ? ` ${reason}` : ""})`), !this.handshaken)
  }

  /** Abandons a link whose handshake has not completed within `connectTimeoutMs`. */
  private watchHandshake(transport: ClientTransport, link: Link): void {
    if (this.connectTimer !== undefined) clearTimeout(this.connectTimer)
    this.connectTimer = setTimeout(() => {
      if (link !== this.link || this.handshaken) return
      link.close(1000, "connect timeout")
      this.down(
        switchyardError("CONNECTION_LOST", `${transport.id}: no handshake within ${this.options.connectTimeoutMs} ms`),
        true,
      )
    }, this.options.connectTimeoutMs)
    unref(this.connectTimer)
  }

  private receive(transport: ClientTransport, link: Link, data: unknown): void {
    this.heartbeat?.heard()
    const decoded = decodeServerFrame(data, this.options)
    if (!decoded.ok) {
      this.events.notice(switchyardError(decoded.code, `from the server: ${decoded.message}`))
      return
    }
    const f = decoded.frame
    if (f[0] === FrameType.UNRELIABLE) {
      // On WebRTC it comes on its own channel and can overtake WELCOME: before the handshake it is dropped.
      if (this.handshaken) this.events.unreliable(f)
      return
    }
    if (!this.handshaken) {
      if (f[0] === FrameType.BYE) return this.bye(f[1], f[2])
      if (f[0] !== FrameType.WELCOME) return this.violation(link, "HANDSHAKE_REQUIRED", "expected WELCOME")
      const [, version, token, sessionId, resumed, received, limits, offer, peerId] = f
      if (version !== PROTOCOL_VERSION) {
        link.close(1000, "UNSUPPORTED_VERSION")
        return this.fail(
          switchyardError("UNSUPPORTED_VERSION", `the server speaks protocol ${version}, not ${PROTOCOL_VERSION}`),
        )
      }
      if (this.token !== null && !resumed) {
        this.restartSession(switchyardError("SESSION_LOST", "the server no longer has this session"))
      }
      this.limits = limits
      if (offer !== undefined) this.learnOffer(offer)
      if (!this.session.attach(link, resumed ? received : 0)) {
        return this.violation(link, "SEQUENCE_GAP", "the server claims frames this client never sent")
      }
      this.token = token
      this.handshaken = true
      this.attempt = 0
      this.linkSince = Date.now()
      this.skipped.clear()
      if (this.connectTimer !== undefined) clearTimeout(this.connectTimer)
      this.heartbeat = new Heartbeat(limits.heartbeatIntervalMs, limits.heartbeatTimeoutMs, noop, () => {
        link.close(closeCodeOf("HEARTBEAT_TIMEOUT"), "HEARTBEAT_TIMEOUT")
        this.down(switchyardError("HEARTBEAT_TIMEOUT", "the server went silent"), false)
      })
      this.heartbeat.start()
      const reason: TransportReason = this.switchingFrom
        ? "upgrade"
        : !this.everConnected
          ? "connected"
          : !resumed
            ? "new session"
            : this.fellBack
              ? "fallback"
              : "resumed"
      this.switchingFrom = undefined
      this.fellBack = false
      this.everConnected = true
      this.remember((memory, now) => rememberSuccess(memory, transport.id, now))
      this.events.ready({ transport, sessionId, resumed, reason, peerId })
      this.scheduleUpgrade(0)
      return
    }
    switch (f[0]) {
      case FrameType.ACK:
        if (!this.session.acknowledge(f[1])) this.violation(link, "SEQUENCE_GAP", "ack of a frame never sent")
        return
      case FrameType.PING:
        if (!this.session.acknowledge(f[1])) return this.violation(link, "SEQUENCE_GAP", "ack of a frame never sent")
        link.send(control.pong(this.session.received))
        this.session.markAcked()
        return
      case FrameType.NOTICE:
        this.events.notice(switchyardError(isErrorCode(f[1]) ? f[1] : "INVALID_FRAME", `server notice: ${f[2]}`))
        return
      case FrameType.BYE:
        return this.bye(f[1], f[2])
      case FrameType.WELCOME:
        return this.violation(link, "INVALID_FRAME", "WELCOME after the handshake")
      case FrameType.PROBE:
        return this.violation(link, "INVALID_FRAME", "PROBE on an established link")
    }
    const arrival = this.session.arrive(f[1])
    if (arrival === "gap")
      return this.violation(link, "SEQUENCE_GAP", `expected frame ${this.session.received + 1}, got ${f[1]}`)
    if (arrival !== "deliver") return
    // Signalling belongs to the connection, not to the app.
    if (f[0] === FrameType.SIGNAL) return this.signalListeners.get(f[2])?.(f[3], f[4])
    this.events.data(f)
  }

  // --- Upgrades: probe a better transport, then move the session to it. ---

  /** Plans the next upgrade attempt `delayMs` from now (one at a time). */
  private scheduleUpgrade(delayMs: number): void {
    if (this.closed || this.upgradeTimer !== undefined || this.probe !== undefined) return
    this.upgradeTimer = setTimeout(() => {
      this.upgradeTimer = undefined
      this.tryUpgrade()
    }, delayMs)
    unref(this.upgradeTimer)
  }

  /** Probes the best transport ranked above the current one and not known to fail, if any. */
  private tryUpgrade(): void {
    if (this.closed || !this.handshaken || this.probe !== undefined || this.switchingFrom) return
    const result = plan(this.planInput(this.offer))
    const rank = result.ladder.indexOf(this.transport.id)
    const better = result.upgrades.filter((id) => rank === -1 || result.ladder.indexOf(id) < rank)
    const next = better.map((id) => this.byId(id)).find((t) => t !== undefined)
    if (next === undefined) {
      // Nothing to try now; failures expire, so look again later if something is better than here.
      if (rank > 0) this.scheduleUpgrade(this.options.negotiation.upgradeRetryMs)
      return
    }
    this.startProbe(next)
  }

  private startProbe(transport: ClientTransport): void {
    const nonce = ++this.probeCount
    let link: Link | undefined
    const mine = () => link !== undefined && this.probe?.link === link
    // A failed probe (closed, a wrong answer, or no answer in time) is remembered, not reported as an
    // error: the session never left its link.
    const failed = () => {
      if (!mine()) return
      this.endProbe()
      this.forget(transport)
      this.scheduleUpgrade(0)
    }
    const events: ClientLinkEvents = {
      open: () => {
        if (mine()) link?.send(control.probe(nonce))
      },
      frame: (data: unknown) => {
        if (!mine()) {
          if (link !== undefined && link === this.link) this.receive(transport, link, data)
          return
        }
        const decoded = decodeServerFrame(data, this.options)
        if (decoded.ok && decoded.frame[0] === FrameType.PROBE && decoded.frame[1] === nonce) {
          return this.switchTo(transport, link as Link)
        }
        failed()
      },
      received: () => (link === this.link && this.handshaken ? this.session.received : 0),
      close: (code: number, reason: string) => {
        if (mine()) return failed()
        if (link !== undefined && link === this.link) this.linkClosed(code, reason)
      },
    }
    const attempt = transport.signalled ? ++this.signalAttempts : 0
    try {
      link = transport.connect(this.options.url, events, attempt ? this.signalling(transport, attempt) : undefined)
    } catch {
      this.signalListeners.delete(attempt)
      this.forget(transport)
      return this.scheduleUpgrade(0)
    }
    const timer = setTimeout(failed, transport.probeTimeoutMs ?? this.options.negotiation.probeTimeoutMs)
    unref(timer)
    this.probe = { link, transport, timer, attempt }
  }

  /** Signalling for one attempt of a signalled transport: SIGNAL frames on the session. */
  private signalling(transport: ClientTransport, attempt: number): Signalling {
    return {
      send: (kind, data) => {
        this.session.send(FrameType.SIGNAL, body.signal(attempt, kind, data))
      },
      onSignal: (listener) => {
        this.signalListeners.set(attempt, listener)
        return () => this.signalListeners.delete(attempt)
      },
      offer: this.offerDetails.find((t) => t.id === transport.id),
    }
  }

  /** Closes the probe link, if any. */
  private endProbe(): void {
    const probe = this.probe
    if (!probe) return
    this.probe = undefined
    clearTimeout(probe.timer)
    probe.link.close(1001, "PROBE_FAILED")
    if (probe.attempt) {
      // The server lets go of what it set up for this attempt.
      this.signalListeners.delete(probe.attempt)
      this.session.send(FrameType.SIGNAL, body.signal(probe.attempt, "end", "probe failed"))
    }
  }

  /**
   * The probe passed: the session leaves its link for the probed one, exactly as it would resume after a
   * drop (HELLO with what it has received; the server replays the rest there and closes the old link).
   * Frames still arriving on the old link are ignored from now on, so none is delivered twice.
   */
  private switchTo(transport: ClientTransport, link: Link): void {
    const probe = this.probe
    if (!probe || probe.link !== link) return
    clearTimeout(probe.timer)
    this.probe = undefined
    if (this.closed || !this.handshaken) return link.close(1001, "PROBE_UNUSED")
    const old = this.link
    const from = this.transport
    this.abandon()
    this.switchingFrom = from
    this.transport = transport
    this.link = link
    link.send(control.hello(PROTOCOL_VERSION, this.token, this.session.received))
    this.watchHandshake(transport, link)
    old?.close(1001, "UPGRADE")
  }

  // --- Failures ---

  /** The server ended the session: forget it and start a new one (or stop, when it cannot be had). */
  private bye(code: string, message: string): void {
    const error = switchyardError(isErrorCode(code) ? code : "SESSION_LOST", `the server ended the session: ${message}`)
    const link = this.link
    const wasUp = this.handshaken || this.switchingFrom !== undefined
    this.abandon()
    this.endProbe()
    link?.close(1000, "BYE")
    if (error.code === "UNSUPPORTED_VERSION") return this.fail(error)
    if (wasUp) this.events.down(error)
    this.switchingFrom = undefined
    // Before the handshake, a BYE refuses this connection only (the server is busy, closing, or timed
    // us out) and the session lives on; only SEQUENCE_GAP says the server ended it.
    if (this.token !== null && (wasUp || error.code === "SEQUENCE_GAP")) {
      this.token = null
      this.restartSession(error)
    } else this.events.notice(error)
    this.retry(false)
  }

  /**
   * The server no longer has the session: the runtime sorts what was in flight (it reads
   * `session.written`), the session forgets everything, and the runtime sends again what never left.
   */
  private restartSession(error: SwitchyardError): void {
    this.events.lost(error)
    this.session.reset()
    this.events.fresh()
  }

  /** Gives up for good. */
  private fail(error: SwitchyardError): void {
    this.abandon()
    this.endProbe()
    this.session.reset()
    this.closed = true
    if (this.retryTimer !== undefined) clearTimeout(this.retryTimer)
    if (this.upgradeTimer !== undefined) clearTimeout(this.upgradeTimer)
    this.events.fatal(error)
  }

  private violation(link: Link, code: Parameters<typeof closeCodeOf>[0], message: string): void {
    this.events.notice(switchyardError(code, message))
    link.close(closeCodeOf(code), code)
    this.down(switchyardError(code, message), !this.handshaken)
  }

  /** The link is gone (or abandoned as dead): detach and reconnect. */
  private down(error: SwitchyardError, failedToConnect: boolean): void {
    const wasUp = this.handshaken || this.switchingFrom !== undefined
    const switchedFrom = this.switchingFrom
    const livedMs = this.handshaken ? Date.now() - this.linkSince : 0
    this.abandon()
    this.endProbe()
    this.switchingFrom = undefined
    if (this.closed) return
    if (wasUp) this.events.down(error)
    if (switchedFrom) {
      // The new link failed before its handshake: remember that, and go back where the session was.
      this.forget(this.transport)
      this.transport = switchedFrom
      return this.retry(false)
    }
    if (failedToConnect) {
      // Try the next transport; whether this one is blocked or the server is away, the probes tell later.
      this.skipped.add(this.transport.id)
      return this.retry(true)
    }
    // An established link died. A blip resumes on the same transport; links that keep dying young mean
    // the network breaks this transport (a proxy cutting held requests, say): remember it, fall back.
    this.shortLinks = livedMs < this.options.negotiation.stableLinkMs ? this.shortLinks + 1 : 0
    if (this.shortLinks < this.options.negotiation.maxShortLinks) return this.retry(false)
    this.shortLinks = 0
    this.forget(this.transport)
    this.retry(true)
  }

  /** Remembers that `transport` failed. */
  private forget(transport: ClientTransport): void {
    this.remember((memory, now) =>
      rememberFailure(memory, transport.id, now, this.options.negotiation.rememberFailureMs),
    )
  }

  private remember(update: Parameters<TransportStore["update"]>[0]): void {
    if (this.options.transports.length === 1) return
    this.options.negotiation.store.update(update)
  }

  private abandon(): void {
    this.link = undefined
    this.handshaken = false
    this.heartbeat?.stop()
    this.heartbeat = undefined
    if (this.connectTimer !== undefined) clearTimeout(this.connectTimer)
    this.session.detach()
  }

  private retry(fallBack: boolean): void {
    if (this.closed || this.retryTimer !== undefined) return
    // A signalled transport (WebRTC) cannot open a session: resume below it, then move back up.
    if (this.transport.signalled) fallBack = true
    if (fallBack && this.options.transports.length > 1) {
      const memory = this.options.negotiation.store.load()
      const ladder = plan(this.planInput(this.offer, memory)).ladder
      const failed = { ...memory.failed }
      for (const id of this.skipped) failed[id] = Number.POSITIVE_INFINITY
      const next = fallback(ladder, this.transport.id, { memory: { ...memory, failed }, now: Date.now() })
      const transport = next === undefined ? undefined : this.byId(next)
      if (transport !== undefined && transport !== this.transport) {
        this.transport = transport
        this.fellBack = true
        // Once settled lower, try to move back up later.
        if (this.upgradeTimer !== undefined) clearTimeout(this.upgradeTimer)
        this.upgradeTimer = undefined
      }
    }
    const delay = backoffDelay(this.attempt++, this.options.reconnect)
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined
      this.open()
    }, delay)
  }
}

function noop(): void {}

/** What a client assumes of a server before its first WELCOME: the server defaults. */
const defaultLimits: SessionLimits = {
  maxMessageBytes: 1024 * 1024,
  maxDepth: 64,
  heartbeatIntervalMs: 15_000,
  heartbeatTimeoutMs: 10_000,
  resumeWindowMs: 60_000,
}
