import { unref } from "./session.ts"

/**
 * Liveness of one link, without reading a clock per frame. Every `intervalMs` it calls `tick` (the
 * server sends a PING there) and counts the interval as missed if nothing arrived in it; after
 * `ceil((intervalMs + timeoutMs) / intervalMs)` missed intervals in a row it calls `dead` once and stops.
 * So a link silent for `intervalMs + timeoutMs` is declared dead within one more interval.
 */
export class Heartbeat {
  #timer: ReturnType<typeof setInterval> | undefined
  #heardSinceTick = false
  #missed = 0
  readonly #allowed: number

  readonly #intervalMs: number
  readonly #tick: () => void
  readonly #dead: () => void

  constructor(intervalMs: number, timeoutMs: number, tick: () => void, dead: () => void) {
    this.#intervalMs = intervalMs
    this.#tick = tick
    this.#dead = dead
    this.#allowed = Math.max(1, Math.ceil((intervalMs + timeoutMs) / intervalMs))
  }

  start(): void {
    this.stop()
    this.#heardSinceTick = false
    this.#missed = 0
    this.#timer = setInterval(() => {
      if (this.#heardSinceTick) this.#missed = 0
      else this.#missed++
      this.#heardSinceTick = false
      if (this.#missed >= this.#allowed) {
        this.stop()
        this.#dead()
      } else this.#tick()
    }, this.#intervalMs)
    unref(this.#timer)
  }

  /** Something arrived on the link. */
  heard(): void {
    this.#heardSinceTick = true
  }

  stop(): void {
    clearInterval(this.#timer)
    this.#timer = undefined
  }
}
