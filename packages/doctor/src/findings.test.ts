import { readFileSync } from "node:fs"
import { describe, expect, it } from "vitest"
import { findingAnchors, judge } from "./findings.ts"
import type { LinkProbe, ProbeTimings } from "./probe.ts"

// The judgement alone, on probes as they were seen: the doctor's runs against real proxies are in
// packages/tests/src/doctor.test.ts and doctor.chromium.test.ts.

const timings: ProbeTimings = { timeoutMs: 1500, holdMs: 1200, spacingMs: 100 }

/** A probe whose later echoes arrived `trips` ms after being sent, 100 ms apart from 20 ms on. */
function probe(id: string, trips: ReadonlyArray<number | undefined>, rest: Partial<LinkProbe> = {}): LinkProbe {
  const sentAtMs = [20, 120, 220]
  return {
    id,
    opened: true,
    firstEchoMs: 15,
    roundTripsMs: trips,
    echoesAtMs: trips.map((t, i) => (t === undefined ? undefined : (sentAtMs[i] ?? 0) + t)),
    sentAtMs,
    ended: undefined,
    error: undefined,
    otherFrames: [],
    ...rest,
  }
}

describe("judge", () => {
  it("a stream whose echoes come back together, the first held ~200 ms, is buffered", () => {
    const { row, finding } = judge(probe("sse", [205, 106, 6]), timings, 4, true)
    expect(row.verdict).toBe("buffered")
    expect(row.detail).toBe("in a batch (3 probes sent over 200 ms came back within 1 ms)")
    expect(finding?.kind).toBe("stream-buffered")
  })

  it("the same echoes are no batch when long polling's were as late (a stalled server)", () => {
    expect(judge(probe("sse", [205, 106, 6]), timings, 190, true).row.verdict).toBe("works")
  })

  it("a stream far slower than long polling is late", () => {
    const { row } = judge(probe("sse", [600, 620, 610]), timings, 5, true)
    expect(row).toMatchObject({ verdict: "buffered", roundTripMs: 610 })
    expect(row.detail).toBe("late (round trip 610 ms, long polling 5 ms)")
  })

  it("steady round trips are fine, and the row has their median", () => {
    const { row, finding } = judge(probe("websocket", [3, 9, 4]), timings, 5, true)
    expect(row).toMatchObject({ verdict: "works", roundTripMs: 4, roundTripsMs: [3, 9, 4], firstEchoMs: 15 })
    expect(finding).toBeUndefined()
  })

  it("long polling is never judged buffered: its echoes may share a poll", () => {
    expect(judge(probe("long-polling", [205, 106, 6]), timings, undefined, true).row.verdict).toBe("works")
  })

  it("an event stream that brings nothing while requests pass is held; with nothing passing, it failed", () => {
    const silent = probe("sse", [undefined, undefined, undefined], { firstEchoMs: undefined })
    expect(judge(silent, timings, 5, true).finding?.kind).toBe("stream-held")
    expect(judge(silent, timings, undefined, false).row.verdict).toBe("failed")
  })

  it("a refused upgrade says its status when the platform told it", () => {
    const refused = probe("websocket", [], {
      opened: false,
      firstEchoMs: undefined,
      ended: { atMs: 4, code: 1006, reason: "" },
      error: "Unexpected server response: 426",
    })
    const { row, finding } = judge(refused, timings, 5, true)
    expect(row).toMatchObject({ verdict: "refused", detail: "upgrade refused, HTTP 426" })
    expect(finding?.message).toContain("drops the Upgrade header")
    const browser = { ...refused, error: undefined }
    expect(judge(browser, timings, 5, true).finding?.message).toContain("a browser does not tell the status")
  })

  it("a 403 anywhere is the Origin check", () => {
    const forbidden = probe("long-polling", [], {
      firstEchoMs: undefined,
      ended: { atMs: 3, code: 1006, reason: "HTTP 403" },
    })
    expect(judge(forbidden, timings, undefined, false).finding?.kind).toBe("origin-refused")
  })

  it("a link that ends on its own before the hold is over was cut, and says when", () => {
    const cut = probe("long-polling", [3, 4, 3], { ended: { atMs: 512.4, code: 1006, reason: "connection lost" } })
    const { row, finding } = judge(cut, timings, 3, true)
    expect(row).toMatchObject({ verdict: "cut", detail: "link ended after 512 ms: connection lost" })
    expect(finding?.kind).toBe("held-cut")
  })

  it("a cut link whose held request was answered (a proxy's 504) names the status, not a lost connection", () => {
    const ended = { atMs: 512.4, code: 1006, reason: "connection lost" }
    const { row, finding } = judge(probe("long-polling", [3, 4, 3], { ended, error: "HTTP 504" }), timings, 3, true)
    expect(row).toMatchObject({ verdict: "cut", detail: "link ended after 512 ms: HTTP 504" })
    expect(finding?.message).toBe(
      "long-polling: the link was cut 512 ms after it opened, while a request was held (answered HTTP 504, a gateway's timeout)",
    )
  })

  it("a WebSocket refused without a status says what the platform said, when it says", () => {
    const ended = { atMs: 3, code: 1006, reason: "" }
    const error = "the proxy refused to tunnel to 127.0.0.1:8080: CONNECT answered 403"
    const refused = probe("websocket", [], { opened: false, firstEchoMs: undefined, ended, error })
    expect(judge(refused, timings, 3, true).finding?.message).toBe(`WebSocket: the upgrade was refused (${error})`)
    const silent = probe("websocket", [], { opened: false, firstEchoMs: undefined, ended })
    expect(judge(silent, timings, 3, true).finding?.message).toBe(
      "WebSocket: the upgrade was refused (a browser does not tell the status)",
    )
  })
})

it("every finding links to a section of docs/doctor.md that exists", () => {
  const page = readFileSync(new URL("../../../docs/doctor.md", import.meta.url), "utf8")
  // GitHub's heading ids, as the docs site makes them (docs/.vitepress/config.ts, githubSlug).
  const ids = [...page.matchAll(/^#{2,4} (.+)$/gm)].map(([, text]) =>
    (text ?? "")
      .trim()
      .toLowerCase()
      .replace(/[^\p{L}\p{M}\p{N}\p{Pc}\- ]/gu, "")
      .replace(/ /g, "-"),
  )
  for (const anchor of Object.values(findingAnchors)) expect(ids).toContain(anchor)
})
