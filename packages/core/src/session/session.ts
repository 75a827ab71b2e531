import { ackFrame, dataFrame } from "../protocol/encode.ts"
import type { Link } from "../transport/types.ts"
import { ReplayBuffer } from "./replay.ts"

/** Bounds and pacing of a session's reliability layer. */
export interface SessionOptions {
  /** Most unacknowledged data frames kept for replay. */
  readonly maxReplayFrames: number
  /** Most unacknowledged data kept for replay, in UTF-16 code units of frame text (≈ bytes for ASCII). */
  readonly maxReplayBytes: number
  /** Acknowledge at once after this many unacknowledged data frames. */
  readonly ackEvery: number
  /** Otherwise acknowledge this long after the first unacknowledged data frame (ms). */
  readonly ackDelayMs: number
}

/** The reliability layer's defaults: replay up to 10 000 frames or 4 MiB, acknowledge every 32 frames or after 20 ms. */
export const defaultSessionOptions: SessionOptions = {
  maxReplayFrames: 10_000,
  maxReplayBytes: 4 * 1024 * 1024,
  ackEvery: 32,
  ackDelayMs: 20,
}

/**
 * What a session's reliability layer holds, as JSON: enough to carry it on in another process (a session
 * handed over to another node, docs/scaling.md).
 */
export interface SessionSnapshot {
  /** Sequence number the next data frame will carry. */
  readonly next: number
  /** Highest sequence number received in order. */
  readonly received: number
  /** The frames kept for replay, oldest first; the first has sequence number `next - frames.length`. */
  readonly frames: readonly string[]
}

/** What became of an incoming data frame's sequence number. */
export type Arrival = "deliver" | "duplicate" | "gap"

/**
 * The reliability layer both sides share: numbers outgoing data frames, keeps them until the peer
 * acknowledges them, replays them on a new link, and drops duplicates of incoming ones. It knows nothing
 * of RPCs or topics; the server and client runtimes build on it.
 */
export class Session {
  #link: Link | undefined
  #nextSeq = 1
  #lastReceived = 0
  #lastAcked = 0
  #lastWritten = 0
  /** Ack-ticker ticks left before the delayed ack is due; 0 when none is waiting. */
  #ackTicksLeft = 0
  readonly #replay = new ReplayBuffer()

  readonly #options: SessionOptions

  constructor(options: SessionOptions = defaultSessionOptions) {
    this.#options = options
  }

  /** Highest sequence number received in order. */
  get received(): number {
    return this.#lastReceived
  }

  /** Sequence number the next data frame will carry. */
  get next(): number {
    return this.#nextSeq
  }

  get connected(): boolean {
    return this.#link !== undefined
  }

  /** Highest sequence number ever written to a link; frames above it never left this process. */
  get written(): number {
    return this.#lastWritten
  }

  /** Frames waiting for an acknowledgement. */
  get pending(): number {
    return this.#replay.length
  }

  /** Whether one more frame of `size` would pass the replay bounds. */
  wouldOverflow(size: number): boolean {
    return (
      this.#replay.length + 1 > this.#options.maxReplayFrames ||
      this.#replay.bytes + size > this.#options.maxReplayBytes
    )
  }

  /**
   * Numbers, keeps and (when a link is up) sends one data frame; returns its sequence number, or 0,
   * sending nothing, when the replay buffer is full: the caller decides what that means (the server ends
   * the session, the client rejects the call). `force` passes the bound, for the few small frames whose loss would wedge the
   * peer (the client's CANCEL, CREDIT and UNSUBSCRIBE), whose number is bounded by what is open.
   */
  send(type: number, body: string, force = false): number {
    const seq = this.#nextSeq
    const frame = dataFrame(type, seq, body)
    if (!force && this.wouldOverflow(frame.length)) return 0
    this.#nextSeq++
    this.#replay.push(frame)
    if (this.#link) {
      this.#lastWritten = seq
      this.#link.send(frame)
    }
    return seq
  }

  /** Sends a control frame on the current link, if any; control frames are never replayed. */
  sendControl(frame: string): void {
    this.#link?.send(frame)
  }

  /** Classifies an incoming data frame's sequence number and, when in order, counts it as received. */
  arrive(seq: number): Arrival {
    if (seq <= this.#lastReceived) {
      // The peer resent what we already have: it may have missed our ack, so acknowledge again.
      this.#lastAcked = Math.min(this.#lastAcked, seq - 1)
      this.#scheduleAck()
      return "duplicate"
    }
    if (seq !== this.#lastReceived + 1) return "gap"
    this.#lastReceived = seq
    if (this.#lastReceived - this.#lastAcked >= this.#options.ackEvery) this.flushAck()
    else this.#scheduleAck()
    return "deliver"
  }

  /**
   * The peer acknowledged everything up to `received`. Returns false when it acknowledges a frame never
   * sent, a protocol violation.
   */
  acknowledge(received: number): boolean {
    if (received >= this.#nextSeq) return false
    this.#replay.trimTo(received)
    return true
  }

  /**
   * Puts the session on a new link after a handshake: drops what the peer says it has and resends the
   * rest, in order, before anything new. Returns false when the peer claims frames never sent.
   */
  attach(link: Link, peerReceived: number): boolean {
    if (!this.acknowledge(peerReceived)) return false
    this.#link = link
    this.#lastAcked = this.#lastReceived
    this.#replay.forEach((frame) => {
      link.send(frame)
    })
    this.#lastWritten = this.#nextSeq - 1
    return true
  }

  /** Takes the session off its link (the link is closed or dead); frames keep queueing for replay. */
  detach(): Link | undefined {
    const link = this.#link
    this.#link = undefined
    this.#clearAckTimer()
    return link
  }

  /** What this session holds (no link), for `restore` elsewhere. */
  snapshot(): SessionSnapshot {
    const frames: string[] = []
    this.#replay.forEach((frame) => {
      frames.push(frame)
    })
    return { next: this.#nextSeq, received: this.#lastReceived, frames }
  }

  /** Takes over what `snapshot()` gave, on a session that has carried nothing yet. */
  restore(snapshot: SessionSnapshot): void {
    this.reset()
    this.#nextSeq = snapshot.next
    this.#lastReceived = this.#lastAcked = snapshot.received
    this.#lastWritten = snapshot.next - 1
    this.#replay.first = snapshot.next - snapshot.frames.length
    for (const frame of snapshot.frames) this.#replay.push(frame)
  }

  /** Forgets everything: a session that ended keeps nothing. */
  reset(): void {
    this.detach()
    this.#nextSeq = 1
    this.#lastReceived = 0
    this.#lastAcked = 0
    this.#lastWritten = 0
    this.#replay.trimTo(Number.MAX_SAFE_INTEGER)
    this.#replay.first = 1
  }

  /** Acknowledges now what was received, if anything is unacknowledged. */
  flushAck(): void {
    this.#clearAckTimer()
    if (this.#link === undefined || this.#lastAcked === this.#lastReceived) return
    this.#lastAcked = this.#lastReceived
    this.#link.send(ackFrame(this.#lastReceived))
  }

  /** Records that `received` was just told to the peer in a PING or PONG. */
  markAcked(): void {
    this.#lastAcked = this.#lastReceived
  }

  #scheduleAck(): void {
    if (this.#ackTicksLeft !== 0 || this.#link === undefined) return
    this.#ackTicksLeft = Math.max(1, Math.ceil(this.#options.ackDelayMs / ACK_TICK_MS))
    waitForAckTick(this)
  }

  #clearAckTimer(): void {
    this.#ackTicksLeft = 0
  }

  /** Called by the ack ticker once per tick; true while the session still waits for its turn. */
  tickAck(): boolean {
    if (this.#ackTicksLeft === 0) return false
    return --this.#ackTicksLeft > 0
  }
}

/** Lets a Node timer not hold the process open; a no-op in browsers. */
export function unref(timer: unknown): void {
  ;(timer as { unref?: () => void }).unref?.()
}

/**
 * One timer for the delayed acknowledgements of every session in the process, instead of a timer per
 * session per ack window: an arriving frame costs a flag and a Set insertion, not a timer.
 */
const ackWaiting = new Set<Session>()
let ackTimer: ReturnType<typeof setInterval> | undefined

/** Puts `session` on the ack ticker, starting its timer when it was idle. */
function waitForAckTick(session: Session): void {
  ackWaiting.add(session)
  if (ackTimer !== undefined) return
  ackTimer = setInterval(ackTick, ACK_TICK_MS)
  unref(ackTimer)
}

function ackTick(): void {
  for (const session of ackWaiting) {
    if (session.tickAck()) continue
    // Removed before flushing, so that a flush that schedules again (a synchronous transport) re-adds it.
    ackWaiting.delete(session)
    session.flushAck()
  }
  if (ackWaiting.size === 0 && ackTimer !== undefined) {
    clearInterval(ackTimer)
    ackTimer = undefined
  }
}

/** Granularity of delayed acknowledgements (ms). */
const ACK_TICK_MS = 5
