import type { ClientTransport } from "@switchyard/core"
import { describe, expect, it } from "vitest"
import { probeLink } from "./probe.ts"

// probeLink's timing on an in-process link whose echoes come when the test says; the real transports,
// servers and proxies are in packages/tests/src/doctor.test.ts and doctor.chromium.test.ts.

/** A transport whose link echoes `PROBE n` after `delays[n]` ms, never when it is undefined. */
function echoing(delays: ReadonlyArray<number | undefined>): ClientTransport {
  return {
    id: "test-echo",
    connect(_url, events) {
      queueMicrotask(() => events.open())
      let open = true
      return {
        send(frame) {
          const [, n] = JSON.parse(frame) as [number, number]
          const delay = delays[n]
          if (delay !== undefined) setTimeout(() => open && events.frame(frame), delay)
        },
        close() {
          open = false
        },
      }
    },
  }
}

describe("probeLink", () => {
  it("times the four echoes and holds the link until holdMs", async () => {
    const started = performance.now()
    const probe = await probeLink(echoing([5, 5, 5, 5]), "x", { timeoutMs: 200, holdMs: 150, spacingMs: 10 })
    expect(performance.now() - started).toBeGreaterThanOrEqual(145)
    expect(probe.firstEchoMs).toBeGreaterThanOrEqual(4)
    expect(probe.roundTripsMs.every((ms) => ms !== undefined && ms >= 4)).toBe(true)
    expect(probe.ended).toBeUndefined()
  })

  it("ends, with what it has, when an echo never comes and another comes after the echoes' deadline", async () => {
    // Deadline for the later echoes: spacing 2 × 10 + timeout 40 = 60 ms after the first; probe 3's comes at
    // ~20 + 70 ms; probe 2's never; the hold ends at 150 ms.
    const probe = await probeLink(echoing([1, 1, undefined, 70]), "x", { timeoutMs: 40, holdMs: 150, spacingMs: 10 })
    expect(probe.roundTripsMs[0]).toBeDefined()
    expect(probe.roundTripsMs[1]).toBeUndefined()
    expect(probe.roundTripsMs[2]).toBeGreaterThanOrEqual(65)
  })

  it("gives up after timeoutMs when the first echo does not come", async () => {
    const probe = await probeLink(echoing([undefined]), "x", { timeoutMs: 50, holdMs: 1000, spacingMs: 10 })
    expect(probe).toMatchObject({ opened: true, firstEchoMs: undefined, ended: undefined })
  })
})
