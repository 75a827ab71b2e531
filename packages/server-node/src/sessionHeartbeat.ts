import { Periodic } from "./periodic.ts"

/**
 * The heartbeat of a server session, by the rule of core's `Heartbeat` but on the server's shared timers
 * (`Periodic`) rather than a timer per session, and as fields of the session rather than an object of its
 * own (docs/performance.md#idle-connections). Every `intervalMs` it calls `heartbeatTick` (the session
 * sends a PING) and counts the interval as missed if nothing arrived in it; after
 * `ceil((intervalMs + timeoutMs) / intervalMs)` missed in a row it stops and calls `heartbeatDead` once.
 * So a link silent for `intervalMs + timeoutMs` is declared dead within one more interval.
 */
export abstract class SessionHeartbeat extends Periodic {
  private heardSinceTick = false
  private missedIntervals = 0
  private allowedMisses = 1

  /** An interval passed with the link alive: send a PING. */
  protected abstract heartbeatTick(): void
  /** The link went silent for too long. */
  protected abstract heartbeatDead(): void

  /** (Re)starts the heartbeat of a link that has just been attached. */
  protected startHeartbeat(intervalMs: number, timeoutMs: number): void {
    this.heardSinceTick = false
    this.missedIntervals = 0
    this.allowedMisses = Math.max(1, Math.ceil((intervalMs + timeoutMs) / intervalMs))
    this.startPeriod(intervalMs)
  }

  /** Something arrived on the link. */
  protected heard(): void {
    this.heardSinceTick = true
  }

  protected stopHeartbeat(): void {
    this.stopPeriod()
  }

  protected onPeriod(): void {
    if (this.heardSinceTick) this.missedIntervals = 0
    else this.missedIntervals++
    this.heardSinceTick = false
    if (this.missedIntervals >= this.allowedMisses) {
      this.stopPeriod()
      this.heartbeatDead()
    } else this.heartbeatTick()
  }
}
