import {
  type ClientTransport,
  clientControl,
  closeCodeOf,
  codeOfClose,
  decodeServerFrameWith,
  Heartbeat,
  isErrorCode,
  type Link,
  PROTOCOL_VERSION,
  preWelcomeLimits,
  Session,
  type SessionLimits,
  type SwitchyardError,
  switchyardError,
  unref,
} from "@switchyard/core"
import * as Frame from "@switchyard/core/frame-numbers"
import { backoffDelay } from "./backoff.ts"
import { type ConnectionEvents, linkEvents, type TransportReason, transportReason } from "./connectionEvents.ts"
import type { Credentials, CredentialsHost } from "./credentials.ts"
import { negotiationKit } from "./negotiationKit.ts"
import type { ConnectionSettings } from "./options.ts"
import { noop } from "./report.ts"
import type { Upgrades } from "./upgrades.ts"

/**
 * Keeps one session connected: opens a link, runs the HELLO/WELCOME handshake, watches the heartbeat,
 * and on any failure reconnects with backoff and resumes (or, when the server lost the session, starts a
 * new one and says so). Which transport carries the session is negotiated (docs/negotiation.md): the
 * session starts where it is likeliest to connect at once, probes better transports in the background
 * and moves to the first that passes, and falls back down the ladder when its transport keeps failing.
 */
export class Connection implements CredentialsHost {
  readonly session: Session
  readonly decode: { readonly maxDepth: number }
  #token: string | null = null
  #link: Link | undefined
  /** The transport of `link` (or of the next link to open). */
  transport: ClientTransport
  handshaken = false
  #everConnected = false
  #attempt = 0
  closed = false
  #retryTimer: ReturnType<typeof setTimeout> | undefined
  #connectTimer: ReturnType<typeof setTimeout> | undefined
  #heartbeat: Heartbeat | undefined
  /** Set while the session moves to a link that passed its probe: where from, and why (upgrade, reauthentication). */
  #switchingFrom: ClientTransport | undefined
  #switchReason: TransportReason = "upgrade"
  /** What each connection sends `authenticate`, loaded when the client has `auth` or on `reauthenticate()`. */
  #auth: Promise<Credentials> | undefined
  credentials: Credentials | undefined
  /** Set when the next handshake completes a fallback. */
  #fellBack = false
  /** When the current link's handshake completed, and how many links in a row died young. */
  #linkSince = 0
  #shortLinks = 0
  /** Negotiation (docs/negotiation.md), loaded with `import()` only by a client given several transports. */
  #upgrades: Upgrades | undefined
  /** The server's limits from the last WELCOME (what it has by default until then). */
  limits: SessionLimits = preWelcomeLimits

  readonly #options: ConnectionSettings
  /** How a PEER frame's op and data are checked (by the peer module, which reads them). */
  readonly #peerData: (op: unknown, data: unknown) => boolean
  readonly #events: ConnectionEvents

  constructor(
    options: ConnectionSettings,
    peerData: (op: unknown, data: unknown) => boolean,
    events: ConnectionEvents,
  ) {
    this.#options = options
    this.#peerData = peerData
    this.#events = events
    this.session = new Session(options.session)
    this.decode = { maxDepth: options.maxDepth }
    this.transport = options.transports[0] as ClientTransport
    if (options.auth) this.loadCredentials()
  }

  /** The credentials' module, loaded on first use (docs/sessions.md#credentials: `client.reauthenticate()`). */
  loadCredentials(): Promise<Credentials> {
    const load = () => import("./credentials.ts")
    this.#auth ??= load().then((m) => (this.credentials = new m.Credentials(this.#options, this, negotiationKit)))
    return this.#auth
  }

  /** Opens the next connection now when the session waits out a backoff delay. */
  hurry(): void {
    if (this.#retryTimer !== undefined) this.#open()
  }

  get switching(): boolean {
    return this.#switchingFrom !== undefined
  }

  carries(link: Link): boolean {
    return link === this.#link
  }

  /** Picks where to start (negotiating first when nothing is remembered) and connects. */
  start(): void {
    if (this.#options.transports.length === 1) return this.#open()
    const fail = (message: string, cause?: unknown) =>
      this.closed || this.#fail(switchyardError("CONNECTION_LOST", message, { cause }))
    import("./upgrades.ts").then(
      ({ Upgrades }) => {
        if (this.closed) return
        this.#upgrades = new Upgrades(this.#options, this, negotiationKit)
        return this.#upgrades.begin().then((start) => {
          if (start === undefined) return fail("the server offers none of this client's transports")
          if (this.closed) return
          this.transport = start
          this.#open()
        })
      },
      (cause: unknown) => fail("negotiation could not load", cause),
    )
  }

  /** Ends the session: tells the server (BYE) when connected, and stops reconnecting. */
  close(): void {
    if (this.closed) return
    this.closed = true
    clearTimeout(this.#retryTimer)
    this.#upgrades?.stop()
    const link = this.#link
    if (link && this.handshaken) link.send(clientControl.bye("CLIENT_CLOSED", "the client closed the session"))
    this.#abandon()
    link?.close(1000, "CLIENT_CLOSED")
    this.session.reset()
    this.credentials?.close()
  }

  /** Asks for the credentials, if any, then opens a link (a module that did not load fails it, codeless). */
  #open(): void {
    clearTimeout(this.#retryTimer)
    this.#retryTimer = undefined
    if (this.closed) return
    if (!this.#auth) return this.#connect()
    const connected = () => this.#connect()
    this.#auth.then((c) => c.update()).then(connected, (error: SwitchyardError) => this.#down(error, true))
  }

  /** Opens a link on `this.transport` and says HELLO on it. */
  #connect(): void {
    if (this.closed) return
    const transport = this.transport
    let link: Link | undefined
    const hello = () => link === this.#link && link?.send(this.#hello())
    const events = linkEvents(this, transport, () => link, { open: hello })
    const auth = this.credentials
    try {
      link = this.#link = transport.connect(auth?.url ?? this.#options.url, events, undefined, auth?.headers)
    } catch (error) {
      this.#link = undefined
      this.#events.error(switchyardError("CONNECTION_LOST", `${transport.id} could not connect`, { cause: error }))
      this.#upgrades?.skip(transport)
      return this.#retry(true)
    }
    this.#watchHandshake(transport, link)
  }

  /** The current link closed (from either side): the session goes down and reconnects. */
  linkClosed(code: number, reason: string): void {
    const errorCode = isErrorCode(reason) ? reason : codeOfClose(code)
    this.#down(switchyardError(errorCode, `connection closed (${code}${reason ? ` ${reason}` : ""})`), !this.handshaken)
  }

  /** Abandons a link whose handshake has not completed within `connectTimeoutMs`. */
  #watchHandshake(transport: ClientTransport, link: Link): void {
    clearTimeout(this.#connectTimer)
    this.#connectTimer = setTimeout(() => {
      if (link !== this.#link || this.handshaken) return
      link.close(1000, "connect timeout")
      this.#down(
        switchyardError("CONNECTION_LOST", `${transport.id}: no handshake within ${this.#options.connectTimeoutMs} ms`),
        true,
      )
    }, this.#options.connectTimeoutMs)
    unref(this.#connectTimer)
  }

  receive(transport: ClientTransport, link: Link, data: unknown): void {
    this.#heartbeat?.heard()
    const decoded = decodeServerFrameWith(data, this.decode, this.#peerData, this.#options.signalData)
    if (!decoded.ok) {
      this.#events.error(switchyardError(decoded.code, `from the server: ${decoded.message}`))
      return
    }
    const f = decoded.frame
    if (f[0] === Frame.UNRELIABLE) {
      // On WebRTC it comes on its own channel and can overtake WELCOME: before the handshake it is dropped.
      if (this.handshaken) this.#events.unreliable(f)
      return
    }
    if (!this.handshaken) {
      if (f[0] === Frame.BYE) return this.#bye(f[1], f[2])
      if (f[0] !== Frame.WELCOME) return this.#violation(link, "HANDSHAKE_REQUIRED", "expected WELCOME")
      const [, version, token, sessionId, resumed, received, limits, offer, peerId] = f
      if (version !== PROTOCOL_VERSION) {
        link.close(1000, "UNSUPPORTED_VERSION")
        return this.#fail(
          switchyardError("UNSUPPORTED_VERSION", `the server speaks protocol ${version}, not ${PROTOCOL_VERSION}`),
        )
      }
      if (this.#token !== null && !resumed) {
        this.#restartSession(switchyardError("SESSION_LOST", "the server no longer has this session"))
      }
      this.limits = limits
      if (offer !== undefined) this.#upgrades?.learnOffer(offer)
      if (!this.session.attach(link, resumed ? received : 0)) {
        return this.#violation(link, "SEQUENCE_GAP", "the server claims frames this client never sent")
      }
      this.#token = token
      this.handshaken = true
      this.#attempt = 0
      this.#linkSince = Date.now()
      clearTimeout(this.#connectTimer)
      this.#heartbeat = new Heartbeat(limits.heartbeatIntervalMs, limits.heartbeatTimeoutMs, noop, () => {
        link.close(closeCodeOf("HEARTBEAT_TIMEOUT"), "HEARTBEAT_TIMEOUT")
        this.#down(switchyardError("HEARTBEAT_TIMEOUT", "the server went silent"), false)
      })
      this.#heartbeat.start()
      const reason = transportReason(
        this.#switchingFrom && this.#switchReason,
        this.#everConnected,
        resumed,
        this.#fellBack,
      )
      this.#switchingFrom = undefined
      this.#fellBack = false
      this.#everConnected = true
      this.#upgrades?.connected(transport)
      this.#events.ready({ transport, sessionId, resumed, reason, peerId })
      this.credentials?.connected()
      this.#upgrades?.schedule(0)
      return
    }
    switch (f[0]) {
      case Frame.ACK:
        if (!this.session.acknowledge(f[1])) this.#violation(link, "SEQUENCE_GAP", "ack of a frame never sent")
        return
      case Frame.PING:
        if (!this.session.acknowledge(f[1])) return this.#violation(link, "SEQUENCE_GAP", "ack of a frame never sent")
        link.send(clientControl.pong(this.session.received))
        this.session.markAcked()
        return
      case Frame.NOTICE:
        this.#events.error(switchyardError(isErrorCode(f[1]) ? f[1] : "INVALID_FRAME", `server notice: ${f[2]}`))
        return
      case Frame.BYE:
        return this.#bye(f[1], f[2])
      case Frame.WELCOME:
        return this.#violation(link, "INVALID_FRAME", "WELCOME after the handshake")
      case Frame.PROBE:
        return this.#violation(link, "INVALID_FRAME", "PROBE on an established link")
    }
    const arrival = this.session.arrive(f[1])
    if (arrival === "gap")
      return this.#violation(link, "SEQUENCE_GAP", `expected frame ${this.session.received + 1}, got ${f[1]}`)
    if (arrival !== "deliver") return
    // Signalling belongs to the connection, not to the app.
    if (f[0] === Frame.SIGNAL) return this.#upgrades?.signal(f[2], f[3], f[4])
    this.#events.data(f)
  }

  /**
   * The probe passed: the session leaves its link for the probed one, as it would resume after a drop (the
   * server replays the rest there); frames still arriving on the old link are ignored, so none comes twice.
   */
  switchTo(transport: ClientTransport, link: Link, reason: TransportReason = "upgrade"): void {
    if (this.closed || !this.handshaken) return link.close(1001, "PROBE_UNUSED")
    const old = this.#link
    const from = this.transport
    this.#abandon()
    this.#switchingFrom = from
    this.#switchReason = reason
    this.transport = transport
    this.#link = link
    link.send(this.#hello())
    this.#watchHandshake(transport, link)
    old?.close(1001, "UPGRADE")
  }

  #hello(): string {
    return clientControl.hello(PROTOCOL_VERSION, this.#token, this.session.received)
  }

  // --- Failures ---

  /** The server ended the session: forget it and start a new one (or stop, when it cannot be had). */
  #bye(code: string, message: string): void {
    const error = switchyardError(isErrorCode(code) ? code : "SESSION_LOST", `the server ended the session: ${message}`)
    const link = this.#link
    const wasUp = this.handshaken || this.#switchingFrom !== undefined
    this.#abandon()
    this.#upgrades?.endProbe()
    link?.close(1000, "BYE")
    if (error.code === "UNSUPPORTED_VERSION") return this.#fail(error)
    if (wasUp) this.#events.down(error)
    this.#switchingFrom = undefined
    // Before the handshake, a BYE refuses this connection only (the server is busy, closing, or timed
    // us out) and the session lives on; only SEQUENCE_GAP says the server ended it.
    if (this.#token !== null && (wasUp || error.code === "SEQUENCE_GAP")) {
      this.#token = null
      this.#restartSession(error)
    } else this.#events.error(error)
    this.#retry(false)
  }

  /**
   * The server no longer has the session: the runtime sorts what was in flight (by `session.written`),
   * the session forgets everything, and the runtime sends again what never left.
   */
  #restartSession(error: SwitchyardError): void {
    this.#events.lost(error)
    this.session.reset()
    this.#events.fresh()
  }

  /** Gives up for good. */
  #fail(error: SwitchyardError): void {
    this.#abandon()
    this.#upgrades?.endProbe()
    this.session.reset()
    this.closed = true
    clearTimeout(this.#retryTimer)
    this.#upgrades?.stop()
    this.#events.fatal(error)
  }

  #violation(link: Link, code: Parameters<typeof closeCodeOf>[0], message: string): void {
    this.#events.error(switchyardError(code, message))
    link.close(closeCodeOf(code), code)
    this.#down(switchyardError(code, message), !this.handshaken)
  }

  /** The link is gone (or abandoned as dead): detach and reconnect. */
  #down(error: SwitchyardError, failedToConnect: boolean): void {
    const wasUp = this.handshaken || this.#switchingFrom !== undefined
    const switchedFrom = this.#switchingFrom
    const livedMs = this.handshaken ? Date.now() - this.#linkSince : 0
    this.#abandon()
    this.#upgrades?.endProbe()
    this.#switchingFrom = undefined
    if (this.closed) return
    if (wasUp) this.#events.down(error)
    if (switchedFrom) {
      // The new link failed before its handshake: remember that (an upgrade's), go back where the session was.
      if (this.#switchReason === "upgrade") this.#upgrades?.forget(this.transport)
      this.transport = switchedFrom
      return this.#retry(false)
    }
    if (error.code === "AUTH_REFUSED") {
      // The credentials failed, not the transport: say so, and try again with what `auth` gives then.
      this.#events.error(error)
      this.credentials?.refused(error)
      return this.#retry(false)
    }
    if (failedToConnect) {
      // Try the next transport; whether this one is blocked or the server is away, the probes tell later.
      this.#upgrades?.skip(this.transport)
      return this.#retry(true)
    }
    // An established link died. A signalled transport (WebRTC) cannot resume a session: it falls back, and
    // is not probed again for upgradeRetryMs. A blip resumes on the same transport; links that keep dying
    // young mean the network breaks this transport (a proxy cutting held requests, say): remember it, fall back.
    if (this.transport.signalled) this.#upgrades?.lost(this.transport)
    this.#shortLinks = livedMs < this.#options.negotiation.stableLinkMs ? this.#shortLinks + 1 : 0
    if (this.#shortLinks < this.#options.negotiation.maxShortLinks) return this.#retry(false)
    this.#shortLinks = 0
    this.#upgrades?.forget(this.transport)
    this.#retry(true)
  }

  #abandon(): void {
    this.#link = undefined
    this.handshaken = false
    this.#heartbeat?.stop()
    this.#heartbeat = undefined
    clearTimeout(this.#connectTimer)
    this.session.detach()
  }

  #retry(fallBack: boolean): void {
    if (this.closed || this.#retryTimer !== undefined) return
    // A signalled transport (WebRTC) cannot open a session: resume below it, then move back up.
    if (this.transport.signalled) fallBack = true
    const lower = fallBack ? this.#upgrades?.fallBack(this.transport) : undefined
    if (lower !== undefined) {
      this.transport = lower
      this.#fellBack = true
    }
    const delay = backoffDelay(this.#attempt++, this.#options.reconnect)
    this.#retryTimer = setTimeout(() => this.#open(), delay)
  }
}
