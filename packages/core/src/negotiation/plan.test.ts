import { describe, expect, it } from "vitest"
import type { NegotiationTraits, TransportId } from "../transport/types.ts"
import { fallback, type PlanInput, plan } from "./plan.ts"
import { emptyMemory, parseMemory, rememberFailure, rememberSuccess, type TransportMemory } from "./transportMemory.ts"

const all: TransportId[] = ["websocket", "sse", "long-polling", "polling"]
const now = 1_000_000
const failed = (...ids: TransportId[]): TransportMemory => ({
  failed: Object.fromEntries(ids.map((id) => [id, now + 60_000])),
})
/** What the built-in client transports declare in their own files; the cases name transports by id. */
const declared: Record<string, Omit<NegotiationTraits, "id">> = {
  "long-polling": { startRank: 10 },
  polling: { startRank: 20 },
  sse: { startRank: 30 },
  websocket: { startRank: 40 },
  webrtc: { signalled: true },
}
const traitsOf = (ids: readonly TransportId[]): NegotiationTraits[] => ids.map((id) => ({ id, ...declared[id] }))
const worked = (id: TransportId, memory: TransportMemory = emptyMemory): TransportMemory => ({
  ...memory,
  worked: { id, at: now - 1000 },
})

describe("plan", () => {
  const cases: Array<{
    name: string
    input: Partial<Omit<PlanInput, "supported">> & { supported?: TransportId[] }
    ladder: TransportId[]
    start: TransportId | undefined
    upgrades: TransportId[]
  }> = [
    {
      name: "a fresh client starts on long polling and probes the better ones, best first",
      input: {},
      ladder: all,
      start: "long-polling",
      upgrades: ["websocket", "sse"],
    },
    {
      name: "a remembered transport is where it starts, with nothing to probe above the best",
      input: { memory: worked("websocket") },
      ladder: all,
      start: "websocket",
      upgrades: [],
    },
    {
      name: "a remembered SSE starts there and still probes WebSocket",
      input: { memory: worked("sse") },
      ladder: all,
      start: "sse",
      upgrades: ["websocket"],
    },
    {
      name: "a remembered failure is skipped as an upgrade",
      input: { memory: failed("websocket") },
      ladder: all,
      start: "long-polling",
      upgrades: ["sse"],
    },
    {
      name: "a remembered transport that has since failed is not the start",
      input: { memory: worked("websocket", failed("websocket")) },
      ladder: all,
      start: "long-polling",
      upgrades: ["sse"],
    },
    {
      name: "an expired failure counts for nothing",
      input: { memory: { failed: { websocket: now - 1 } } },
      ladder: all,
      start: "long-polling",
      upgrades: ["websocket", "sse"],
    },
    {
      name: "long polling known to fail: start on polling",
      input: { memory: failed("long-polling") },
      ladder: all,
      start: "polling",
      upgrades: ["websocket", "sse"],
    },
    {
      name: "only what the server offers, in the server's order",
      input: { offer: ["sse", "websocket", "long-polling"] },
      ladder: ["sse", "websocket", "long-polling"],
      start: "long-polling",
      upgrades: ["sse", "websocket"],
    },
    {
      name: "the client's order wins when it listed transports itself",
      input: { offer: ["sse", "websocket", "long-polling"], prefer: "client" },
      ladder: ["websocket", "sse", "long-polling"],
      start: "long-polling",
      upgrades: ["websocket", "sse"],
    },
    {
      name: "a client restricted to WebSocket starts there",
      input: { supported: ["websocket"] },
      ladder: ["websocket"],
      start: "websocket",
      upgrades: [],
    },
    {
      name: "WebSocket and SSE only: SSE is the likelier start",
      input: { supported: ["websocket", "sse"] },
      ladder: ["websocket", "sse"],
      start: "sse",
      upgrades: ["websocket"],
    },
    {
      name: "nothing in common",
      input: { supported: ["websocket"], offer: ["long-polling"] },
      ladder: [],
      start: undefined,
      upgrades: [],
    },
    {
      name: "every transport known to fail: start where a fresh client would, probe nothing",
      input: { memory: failed(...all) },
      ladder: all,
      start: "long-polling",
      upgrades: [],
    },
    {
      name: "WebRTC is never a start, but is an upgrade",
      input: { supported: ["webrtc", "websocket", "long-polling"], memory: worked("webrtc") },
      ladder: ["webrtc", "websocket", "long-polling"],
      start: "long-polling",
      upgrades: ["webrtc", "websocket"],
    },
    {
      name: "duplicates count once",
      input: { supported: ["sse", "sse", "polling"], offer: ["polling", "sse", "polling"] },
      ladder: ["polling", "sse"],
      start: "polling",
      upgrades: [],
    },
    {
      name: "a remembered transport the server no longer offers is ignored",
      input: { memory: worked("websocket"), offer: ["sse", "long-polling"] },
      ladder: ["sse", "long-polling"],
      start: "long-polling",
      upgrades: ["sse"],
    },
  ]
  for (const c of cases) {
    it(c.name, () => {
      const { supported = all, ...input } = c.input
      const result = plan({ prefer: "server", memory: emptyMemory, now, ...input, supported: traitsOf(supported) })
      expect(result).toEqual({ ladder: c.ladder, start: c.start, upgrades: c.upgrades })
    })
  }
})

describe("transports of new ids", () => {
  const base = { prefer: "client", memory: emptyMemory, now } as const
  it("start by the rank they declare; one that declares none starts after every one that does", () => {
    expect(plan({ ...base, supported: [...traitsOf(all), { id: "test-fast", startRank: 5 }] }).start).toBe("test-fast")
    expect(plan({ ...base, supported: [{ id: "test-plain" }, ...traitsOf(["websocket"])] }).start).toBe("websocket")
    expect(plan({ ...base, supported: [{ id: "test-plain" }] }).start).toBe("test-plain")
  })

  it("a signalled one is never a start nor a fallback, whatever its id", () => {
    const supported = [{ id: "test-rtc", signalled: true }, ...traitsOf(["websocket", "sse"])]
    expect(plan({ ...base, supported, memory: worked("test-rtc") })).toEqual({
      ladder: ["test-rtc", "websocket", "sse"],
      start: "sse",
      upgrades: ["test-rtc", "websocket"],
    })
    expect(fallback(supported, "sse", { memory: emptyMemory, now })).toBe("websocket")
  })

  it("are remembered when the client names them", () => {
    const memory = rememberSuccess(emptyMemory, "test-fast", now)
    expect(parseMemory(JSON.stringify(memory)).worked).toBeUndefined()
    expect(parseMemory(JSON.stringify(memory), ["test-fast"]).worked?.id).toBe("test-fast")
  })
})

describe("fallback", () => {
  const cases: Array<[string, TransportId, TransportMemory, TransportId | undefined]> = [
    ["WebSocket fails: SSE", "websocket", emptyMemory, "sse"],
    ["SSE fails: long polling", "sse", emptyMemory, "long-polling"],
    ["long polling fails: polling", "long-polling", emptyMemory, "polling"],
    ["skips what is known to fail", "websocket", failed("sse"), "long-polling"],
    ["at the bottom: the best not known to fail", "polling", failed("polling"), "websocket"],
    ["at the bottom, with WebSocket known to fail too: SSE", "polling", failed("polling", "websocket"), "sse"],
    ["all known to fail: the next one down anyway", "sse", failed(...all), "long-polling"],
    ["all known to fail, at the bottom: back to the top", "polling", failed(...all), "websocket"],
  ]
  for (const [name, current, memory, expected] of cases) {
    it(name, () => expect(fallback(traitsOf(all), current, { memory, now })).toBe(expected))
  }

  it("never falls back to WebRTC, and stays put when there is nothing else", () => {
    expect(fallback(traitsOf(["webrtc", "websocket"]), "websocket", { memory: emptyMemory, now })).toBe("websocket")
    expect(fallback(traitsOf(["webrtc"]), "webrtc", { memory: emptyMemory, now })).toBeUndefined()
  })
})

describe("memory", () => {
  it("remembers a failure until it expires, and forgets the failed one as the one that worked", () => {
    const memory = rememberFailure(worked("websocket"), "websocket", now, 5000)
    expect(memory).toEqual({ worked: undefined, failed: { websocket: now + 5000 } })
    expect(rememberFailure(worked("sse"), "websocket", now, 5000).worked?.id).toBe("sse")
  })

  it("remembers a success, clearing its failure and dropping expired ones", () => {
    const memory: TransportMemory = { failed: { websocket: now + 10, sse: now + 10, polling: now - 10 } }
    expect(rememberSuccess(memory, "sse", now)).toEqual({
      worked: { id: "sse", at: now },
      failed: { websocket: now + 10 },
    })
  })

  it("reads back what it wrote, and nothing from malformed text", () => {
    const memory = rememberFailure(worked("sse"), "websocket", now, 5000)
    expect(parseMemory(JSON.stringify(memory))).toEqual(memory)
    for (const bad of [
      null,
      "",
      "{",
      "[]",
      "42",
      '{"worked":{"id":"carrier-pigeon","at":1}}',
      '{"failed":{"x":1,"sse":"soon"}}',
    ]) {
      const read = parseMemory(bad)
      expect(read.worked).toBeUndefined()
      expect(read.failed).toEqual({})
    }
  })
})
