import {
  type ClientTransport,
  closeCodeOf,
  codeOfClose,
  control,
  decodeServerFrame,
  FrameType,
  Heartbeat,
  isErrorCode,
  type Link,
  PROTOCOL_VERSION,
  type ServerDataFrame,
  Session,
  type SessionLimits,
  type SessionOptions,
  type SwitchyardError,
  switchyardError,
  unref,
} from "@switchyard/core"
import { type BackoffOptions, backoffDelay } from "./backoff.ts"

export interface ConnectionOptions {
  readonly url: string
  readonly transports: readonly ClientTransport[]
  readonly session: SessionOptions
  readonly maxDepth: number
  readonly reconnect: BackoffOptions
  readonly connectTimeoutMs: number
}

/** What the connection tells the client runtime. */
export interface ConnectionEvents {
  /** A handshake completed: `resumed` when the server still had the session, else a new one. */
  ready(info: { readonly transport: ClientTransport; readonly sessionId: string; readonly resumed: boolean }): void
  /** A data frame arrived in order, exactly once. */
  data(frame: ServerDataFrame): void
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

/**
 * Keeps one session connected: opens a link, runs the HELLO/WELCOME handshake, watches the heartbeat,
 * and on any failure reconnects with backoff and resumes (or, when the server lost the session, starts a
 * new one and says so). Transports are tried in order; a failed one passes the turn to the next.
 */
export class Connection {
  readonly session: Session
  private token: string | null = null
  private link: Link | undefined
  private handshaken = false
  private attempt = 0
  private transportIndex = 0
  private closed = false
  private retryTimer: ReturnType<typeof setTimeout> | undefined
  private connectTimer: ReturnType<typeof setTimeout> | undefined
  private heartbeat: Heartbeat | undefined
  /** The server's limits from the last WELCOME (defaults until then). */
  limits: SessionLimits = defaultLimits

  constructor(
    private readonly options: ConnectionOptions,
    private readonly events: ConnectionEvents,
  ) {
    this.session = new Session(options.session)
  }

  get connected(): boolean {
    return this.handshaken
  }

  start(): void {
    this.open()
  }

  /** Ends the session: tells the server (BYE) when connected, and stops reconnecting. */
  close(): void {
    if (this.closed) return
    this.closed = true
    if (this.retryTimer !== undefined) clearTimeout(this.retryTimer)
    const link = this.link
    if (link && this.handshaken) link.send(control.bye("CLIENT_CLOSED", "the client closed the session"))
    this.abandon()
    link?.close(1000, "CLIENT_CLOSED")
    this.session.reset()
  }

  private open(): void {
    if (this.closed) return
    const transport = this.options.transports[this.transportIndex % this.options.transports.length] as ClientTransport
    let link: Link | undefined
    const current = () => link !== undefined && link === this.link
    const events = {
      open: () => {
        if (!current()) return
        link?.send(control.hello(PROTOCOL_VERSION, this.token, this.session.received))
      },
      frame: (data: unknown) => {
        if (current()) this.receive(transport, link as Link, data)
      },
      received: () => this.session.received,
      close: (code: number, reason: string) => {
        if (!current()) return
        const errorCode = isErrorCode(reason) ? reason : codeOfClose(code)
        this.down(
          switchyardError(errorCode, `connection closed (${code}${reason ? ` ${reason}` : ""})`),
          !this.handshaken,
        )
      },
    }
    try {
      link = this.link = transport.connect(this.options.url, events)
    } catch (error) {
      this.link = undefined
      this.events.notice(switchyardError("CONNECTION_LOST", `${transport.id} could not connect`, { cause: error }))
      return this.retry(true)
    }
    this.connectTimer = setTimeout(() => {
      if (!current() || this.handshaken) return
      link?.close(1000, "connect timeout")
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
    if (!this.handshaken) {
      if (f[0] === FrameType.BYE) return this.bye(f[1], f[2])
      if (f[0] !== FrameType.WELCOME) return this.violation(link, "HANDSHAKE_REQUIRED", "expected WELCOME")
      const [, version, token, sessionId, resumed, received, limits] = f
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
      if (!this.session.attach(link, resumed ? received : 0)) {
        return this.violation(link, "SEQUENCE_GAP", "the server claims frames this client never sent")
      }
      this.token = token
      this.handshaken = true
      this.attempt = 0
      if (this.connectTimer !== undefined) clearTimeout(this.connectTimer)
      this.heartbeat = new Heartbeat(limits.heartbeatIntervalMs, limits.heartbeatTimeoutMs, noop, () => {
        link.close(closeCodeOf("HEARTBEAT_TIMEOUT"), "HEARTBEAT_TIMEOUT")
        this.down(switchyardError("HEARTBEAT_TIMEOUT", "the server went silent"), false)
      })
      this.heartbeat.start()
      this.events.ready({ transport, sessionId, resumed })
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
    }
    const arrival = this.session.arrive(f[1])
    if (arrival === "gap")
      return this.violation(link, "SEQUENCE_GAP", `expected frame ${this.session.received + 1}, got ${f[1]}`)
    if (arrival === "deliver") this.events.data(f)
  }

  /** The server ended the session: forget it and start a new one (or stop, when it cannot be had). */
  private bye(code: string, message: string): void {
    const error = switchyardError(isErrorCode(code) ? code : "SESSION_LOST", `the server ended the session: ${message}`)
    const link = this.link
    const wasUp = this.handshaken
    this.abandon()
    link?.close(1000, "BYE")
    if (error.code === "UNSUPPORTED_VERSION") return this.fail(error)
    if (wasUp) this.events.down(error)
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
    this.session.reset()
    this.closed = true
    if (this.retryTimer !== undefined) clearTimeout(this.retryTimer)
    this.events.fatal(error)
  }

  private violation(link: Link, code: Parameters<typeof closeCodeOf>[0], message: string): void {
    this.events.notice(switchyardError(code, message))
    link.close(closeCodeOf(code), code)
    this.down(switchyardError(code, message), !this.handshaken)
  }

  /** The link is gone (or abandoned as dead): detach and reconnect. */
  private down(error: SwitchyardError, failedToConnect: boolean): void {
    const wasUp = this.handshaken
    this.abandon()
    if (this.closed) return
    if (wasUp) this.events.down(error)
    this.retry(failedToConnect)
  }

  private abandon(): void {
    this.link = undefined
    this.handshaken = false
    this.heartbeat?.stop()
    this.heartbeat = undefined
    if (this.connectTimer !== undefined) clearTimeout(this.connectTimer)
    this.session.detach()
  }

  private retry(failedToConnect: boolean): void {
    if (this.closed || this.retryTimer !== undefined) return
    // A transport that could not connect passes the turn to the next one.
    if (failedToConnect) this.transportIndex++
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
