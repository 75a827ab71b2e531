import type { ClientTransport, Link, TransportId } from "@switchyard/core"
import { PROBE } from "@switchyard/core/frame-numbers"

/** How one link is probed (docs/doctor.md#how-it-measures). */
export interface ProbeTimings {
  /** How long the first echo may take, the link's setup included (ms). */
  readonly timeoutMs: number
  /** How long the link is kept open from its opening, idle after its probes, to see whether something cuts it (ms). */
  readonly holdMs: number
  /** The gap between the three later probes, sent without waiting for each other's echo (ms). */
  readonly spacingMs: number
}

/** How a link ended before the doctor closed it. */
export interface LinkEnd {
  /** ms after the link was opened. */
  readonly atMs: number
  readonly code: number
  readonly reason: string
}

/** What one probe link saw: the echoes of its four PROBE frames, and how it ended. */
export interface LinkProbe {
  readonly id: TransportId
  /** The link said it opened (for a WebSocket: the upgrade was accepted). */
  readonly opened: boolean
  /** ms from opening the link to the echo of the first probe: setup plus one round trip. */
  readonly firstEchoMs: number | undefined
  /** The round trips of the three later probes, in the order sent; `undefined` where no echo came. */
  readonly roundTripsMs: ReadonlyArray<number | undefined>
  /** When each later echo arrived, ms after the link opened. */
  readonly echoesAtMs: ReadonlyArray<number | undefined>
  /** When each later probe was sent, ms after the link opened. */
  readonly sentAtMs: readonly number[]
  /** Set when the link ended on its own (refused, failed, cut); unset when the doctor closed it. */
  readonly ended: LinkEnd | undefined
  /** What the platform said about a failure, when it says (`ws`: "Unexpected server response: 426"). */
  readonly error: string | undefined
  /** Frames other than the echoes (a `BYE`), cut to 200 characters. */
  readonly otherFrames: readonly string[]
}

/**
 * Opens one link on `transport` and sends it `PROBE 0`, then, once that is echoed, `PROBE 1` to `3`
 * `spacingMs` apart; then keeps the link open, idle, until `holdMs` after it opened, and closes it. A probe
 * link is what a negotiating client opens before it moves a session (docs/protocol.md#handshake): the
 * server echoes up to four PROBEs and creates no session, so the doctor needs nothing from the server but
 * the protocol. `failure` reads what the platform said when the link failed (see `LinkProbe.error`).
 */
export function probeLink(
  transport: ClientTransport,
  url: string,
  timings: ProbeTimings,
  failure: () => string | undefined = () => undefined,
): Promise<LinkProbe> {
  return new Promise((resolve) => {
    const start = performance.now()
    const since = () => Math.round((performance.now() - start) * 10) / 10
    const timers: Array<ReturnType<typeof setTimeout>> = []
    const later = (ms: number, run: () => void) => timers.push(setTimeout(run, Math.max(0, ms)))
    let opened = false
    let firstEchoMs: number | undefined
    const echoesAtMs: Array<number | undefined> = [undefined, undefined, undefined]
    const sentAtMs: number[] = []
    const otherFrames: string[] = []
    let ended: LinkEnd | undefined
    let done = false
    let link: Link | undefined

    const finish = () => {
      if (done) return
      done = true
      for (const timer of timers) clearTimeout(timer)
      if (ended === undefined) link?.close(1000, "doctor done")
      resolve({
        id: transport.id,
        opened,
        firstEchoMs,
        roundTripsMs: echoesAtMs.map((at, i) => (at === undefined ? undefined : at - (sentAtMs[i] ?? at))),
        echoesAtMs,
        sentAtMs,
        ended,
        error: ended === undefined ? undefined : failure(),
        otherFrames,
      })
    }
    const send = (n: number) => {
      if (!done) link?.send(JSON.stringify([PROBE, n]))
    }
    /** After the first echo: the later probes, then the hold. */
    const probeOn = () => {
      for (let i = 0; i < 3; i++)
        later(i * timings.spacingMs, () => {
          sentAtMs[i] = since()
          send(i + 1)
        })
      // The later echoes get the same time as the first; the link is held until `holdMs` in any case.
      later(2 * timings.spacingMs + timings.timeoutMs, () => {
        echoesOver = true
        if (held) finish()
      })
    }
    let held = false
    let echoesOver = false
    later(timings.holdMs, () => {
      held = true
      if (echoesOver) finish()
    })

    try {
      link = transport.connect(url, {
        // A WebSocket drops what is sent before it opens: the first probe waits for the open.
        open: () => {
          opened = true
          send(0)
        },
        frame: (data) => {
          const text = typeof data === "string" ? data : String(data)
          const n = probeNumber(text)
          if (n === 0 && firstEchoMs === undefined) {
            firstEchoMs = since()
            probeOn()
          } else if (n !== undefined && n >= 1 && n <= 3 && echoesAtMs[n - 1] === undefined) {
            echoesAtMs[n - 1] = since()
            // Only ever set: an echo after the deadline must not take back what the deadline said.
            if (echoesAtMs.every((at) => at !== undefined)) echoesOver = true
            if (echoesOver && held) finish()
          } else otherFrames.push(text.slice(0, 200))
        },
        close: (code, reason) => {
          if (done) return
          ended = { atMs: since(), code, reason }
          finish()
        },
      })
    } catch (error) {
      ended = { atMs: since(), code: 1006, reason: error instanceof Error ? error.message : String(error) }
      finish()
      return
    }
    later(timings.timeoutMs, () => firstEchoMs === undefined && finish())
  })
}

/** The `n` of a `PROBE n` frame, or `undefined` for any other text. */
function probeNumber(text: string): number | undefined {
  if (!text.startsWith(`[${PROBE},`)) return undefined
  try {
    const frame: unknown = JSON.parse(text)
    return Array.isArray(frame) && frame.length === 2 && typeof frame[1] === "number" ? frame[1] : undefined
  } catch {
    return undefined
  }
}
