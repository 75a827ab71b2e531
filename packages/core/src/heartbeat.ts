import { unref } from "./session.ts"

/**
 * Liveness of one link. Every `intervalMs` it calls `tick` (the server sends a PING there); when nothing
 * was heard for `intervalMs + timeoutMs` it calls `dead` once and stops.
 */
export class Heartbeat {
  private timer: ReturnType<typeof setInterval> | undefined
  private lastHeard = Date.now()
  /** Set by every arrival; the timer turns it into `lastHeard`, so that an arrival costs no clock read. */
  private heardSinceTick = false

  constructor(
    private readonly intervalMs: number,
    private readonly timeoutMs: number,
    private readonly tick: () => void,
    private readonly dead: () => void,
  ) {}

  start(): void {
    this.stop()
    this.lastHeard = Date.now()
    this.timer = setInterval(() => {
      const now = Date.now()
      if (this.heardSinceTick) {
        this.heardSinceTick = false
        this.lastHeard = now
      }
      if (now - this.lastHeard > this.intervalMs + this.timeoutMs) {
        this.stop()
        this.dead()
      } else this.tick()
    }, this.intervalMs)
    unref(this.timer)
  }

  /** Something arrived on the link. */
  heard(): void {
    this.heardSinceTick = true
  }

  stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer)
    this.timer = undefined
  }
}
