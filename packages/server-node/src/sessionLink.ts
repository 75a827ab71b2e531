import { closeCodeOf, control, type ErrorCode, type Link, Session, type TransportId } from "@switchyard/core"
import type { Runtime } from "./runtime.ts"
import { SessionHeartbeat } from "./sessionHeartbeat.ts"

/**
 * A server session's hold on its link: the reliability layer (`Session`), the link it is attached to now
 * and the transport it came by, attaching a new link (WELCOME, then the replay) or resuming the same one,
 * the resume window that starts when the link closes, and the answers to frames that break the protocol
 * (a NOTICE, or the link closed). `ServerSession` builds on it, as it builds on `SessionHeartbeat`: as
 * fields and methods of the session, not an object of its own (docs/performance.md#idle-connections).
 */
export abstract class SessionLink extends SessionHeartbeat {
  protected readonly session: Session
  protected link: Link | undefined
  protected currentTransport: TransportId = "memory"
  private invalidFrames = 0
  protected expiry: ReturnType<typeof setTimeout> | undefined
  protected ended = false

  constructor(readonly runtime: Runtime) {
    super()
    this.session = new Session(runtime.limits)
  }

  /** Ends the session for good, telling the client why. */
  abstract end(code: ErrorCode, message: string): void

  protected heartbeatTick(): void {
    this.session.sendControl(control.ping(this.session.received))
    this.session.markAcked()
  }

  protected heartbeatDead(): void {
    this.link?.close(closeCodeOf("HEARTBEAT_TIMEOUT"), "HEARTBEAT_TIMEOUT")
  }

  /** The transport of the current (or last) link: the handlers' `ctx.transport`. */
  get transport(): TransportId {
    return this.currentTransport
  }

  get isEnded(): boolean {
    return this.ended
  }

  /** Highest client sequence number received, for the WELCOME frame. */
  get received(): number {
    return this.session.received
  }

  /**
   * Moves the session onto `link` (a new connection or a resume), replacing any link it had: WELCOME, then
   * what the client has not acknowledged. False when the client claims frames this session never sent.
   */
  attach(link: Link, transport: TransportId, welcome: string, clientReceived: number): boolean {
    if (clientReceived >= this.session.next) return false
    const previous = this.session.detach()
    if (previous) previous.close(closeCodeOf("CONNECTION_REPLACED"), "CONNECTION_REPLACED")
    if (this.expiry !== undefined) clearTimeout(this.expiry)
    this.expiry = undefined
    this.link = link
    this.currentTransport = transport
    this.invalidFrames = 0
    link.send(welcome)
    this.session.attach(link, clientReceived)
    this.startHeartbeat(this.runtime.limits.heartbeatIntervalMs, this.runtime.limits.heartbeatTimeoutMs)
    return true
  }

  /**
   * `link` is still ours but its carrier reconnected (an SSE stream resumed with `Last-Event-ID`): the
   * client has our data frames up to `clientReceived`; acknowledge those and replay the rest on the same
   * link. ACKs written to the lost carrier may be gone too, so ours is sent again.
   */
  resume(link: Link, clientReceived: number): void {
    if (link !== this.link || this.ended) return
    if (!this.session.attach(link, clientReceived)) {
      return this.violation("SEQUENCE_GAP", "the client claims frames this session never sent")
    }
    if (this.session.received > 0) link.send(control.ack(this.session.received))
  }

  /** The transport reports that `link` closed. */
  linkClosed(link: Link | undefined): void {
    if (link !== this.link) return
    this.link = undefined
    this.session.detach()
    this.stopHeartbeat()
    if (this.ended) return
    this.expiry = setTimeout(() => this.end("SESSION_LOST", "resume window passed"), this.runtime.limits.resumeWindowMs)
    this.expiry.unref()
  }

  /** Closes the link without ending the session: the client reconnects at once and resumes (elsewhere). */
  closeLink(code: ErrorCode): void {
    this.link?.close(closeCodeOf(code), code)
  }

  /** Whether `frames` more data frames of `size` characters fit in the replay buffer (SessionPort). */
  canTake(frames: number, size: number): boolean {
    return this.session.pending + frames <= this.runtime.limits.maxReplayFrames && !this.session.wouldOverflow(size)
  }

  /** One NOTICE per invalid frame; the one past `maxInvalidFrames` says so, and the link closes. */
  protected invalid(code: ErrorCode, message: string): void {
    if (++this.invalidFrames <= this.runtime.limits.maxInvalidFrames) this.link?.send(control.notice(code, message))
    else this.violation(code, `too many invalid frames; the last: ${message}`)
  }

  /** A violation that breaks the sequence: close the link; the client resumes from what was acknowledged. */
  protected violation(code: ErrorCode, message: string): void {
    this.link?.send(control.notice(code, message))
    this.link?.close(closeCodeOf(code), code)
  }
}
