import { afterEach, describe, expect, it } from "vitest"
import type { Client } from "../contract/typedClient.ts"
import { SwitchyardError } from "../errors.ts"
import type { TransportId } from "../transport/types.ts"
import type { TestContract, TestServerState } from "./testContract.ts"

/** One server with one connected client, set up by a harness for one test. */
export interface SuiteFixture {
  readonly client: Client<TestContract>
  /** Another client of the same server (for fan-out). */
  createClient(): Promise<Client<TestContract>>
  /** Server-side publish. */
  publish(topic: "room" | "feed" | "cursor", key: string, message: unknown): void
  /** Sessions subscribed to a key on the server. */
  subscribers(topic: "room" | "feed" | "cursor", key: string): number
  readonly state: TestServerState
  /**
   * Cuts every connection abruptly, as a network failure would, and says how many it cut. Whether the
   * client sees a drop depends on the transport: a browser may retry an HTTP request transparently.
   */
  drop(): Promise<number>
  /** While on, the network black-holes traffic both ways without closing anything. */
  stall(on: boolean): Promise<void>
  close(): Promise<void>
}

/** Server limits a test may tighten (heartbeats for the timeout test). */
export interface SuiteSetup {
  readonly serverLimits?: { readonly heartbeatIntervalMs?: number; readonly heartbeatTimeoutMs?: number }
}

/** What a transport provides to run the suite: a way to start a server and a client on it. */
export interface SuiteHarness {
  /** The transport the client must be on; the suite checks it. */
  readonly transport: TransportId
  setup(options: SuiteSetup): Promise<SuiteFixture>
}

/** Polls until `predicate` holds, failing after `timeoutMs`. */
export async function waitFor(predicate: () => boolean, timeoutMs = 5000, what = "condition"): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 5))
  }
}

/** What `promise` rejects with, asserted to be a SwitchyardError; fails when it resolves. */
export async function rejection(promise: Promise<unknown>): Promise<SwitchyardError> {
  try {
    await promise
  } catch (error) {
    expect(error).toBeInstanceOf(SwitchyardError)
    return error as SwitchyardError
  }
  throw new Error("expected a rejection")
}

/**
 * The transport contract suite: everything a transport must carry, checked the same way for each one.
 *
 * @example
 * ```ts
 * declare const websocketHarness: SuiteHarness // starts a server and connects a client over WebSocket
 * runTransportContractSuite("websocket (node)", websocketHarness)
 * ```
 */
export function runTransportContractSuite(name: string, harness: SuiteHarness): void {
  describe(`transport contract: ${name}`, () => {
    const open: SuiteFixture[] = []
    const setup = async (options: SuiteSetup = {}) => {
      const fixture = await harness.setup(options)
      open.push(fixture)
      return fixture
    }
    afterEach(async () => {
      await Promise.all(open.splice(0).map((f) => f.close()))
    })

    it("round-trips an RPC", async () => {
      const { client } = await setup()
      expect(await client.rpc.add({ a: 1, b: 2 })).toBe(3)
      expect(client.state).toBe("connected")
      expect(client.transport).toBe(harness.transport)
    })

    it("rejects with the declared error, typed", async () => {
      const { client } = await setup()
      const error = await rejection(client.rpc.divide({ a: 1, b: 0 }))
      expect(error.code).toBe("FAILURE")
      expect(error.data).toEqual({ _tag: "DivisionByZero" })
      expect(await client.rpc.divide({ a: 6, b: 3 })).toBe(2)
    })

    it("refuses invalid input with INVALID_INPUT and stays usable", async () => {
      const { client } = await setup()
      const error = await rejection(client.rpc.add({ a: "one", b: 2 } as unknown as { a: number; b: number }))
      expect(error.code).toBe("INVALID_INPUT")
      expect(await client.rpc.add({ a: 2, b: 2 })).toBe(4)
    })

    it("hides handler defects behind INTERNAL_ERROR", async () => {
      const { client } = await setup()
      const error = await rejection(client.rpc.crash({}))
      expect(error.code).toBe("INTERNAL_ERROR")
      expect(error.message).not.toContain("secret")
    })

    it("round-trips Dates and binary payloads", async () => {
      const { client } = await setup()
      const at = new Date("2024-02-29T12:34:56.789Z")
      const echoed = await client.rpc.echoDate({ at })
      expect(echoed.at).toBeInstanceOf(Date)
      expect(echoed.at.getTime()).toBe(at.getTime())
      expect(echoed.iso).toBe(at.toISOString())
      const bytes = new Uint8Array([0, 1, 2, 253, 254, 255])
      const back = await client.rpc.echoBytes({ bytes })
      expect(back.length).toBe(6)
      expect([...back.bytes]).toEqual([...bytes])
    })

    it("streams items in order to the end", async () => {
      const { client } = await setup()
      const items: number[] = []
      for await (const n of client.streams.countdown({ from: 200 })) items.push(n)
      expect(items).toEqual(Array.from({ length: 201 }, (_, i) => 200 - i))
    })

    it("cancels a stream on the server when the consumer leaves", async () => {
      const { client, state } = await setup()
      const items: number[] = []
      for await (const n of client.streams.ticks({ tag: "t1", intervalMs: 5 })) {
        items.push(n)
        if (items.length === 3) break
      }
      expect(items).toEqual([0, 1, 2])
      await waitFor(() => state.aborted.has("t1"), 3000, "the server to abort the stream")
      expect(await client.rpc.wasAborted({ tag: "t1" })).toBe(true)
    })

    it("ends a stream with its declared error", async () => {
      const { client } = await setup()
      const items: number[] = []
      const error = await rejection(
        (async () => {
          for await (const n of client.streams.breaking({ after: 3 })) items.push(n)
        })(),
      )
      expect(items).toEqual([0, 1, 2])
      expect(error.code).toBe("FAILURE")
      expect(error.data).toEqual({ _tag: "StreamBroke", at: 3 })
    })

    it("cancels an RPC through its AbortSignal", async () => {
      const { client, state } = await setup()
      const controller = new AbortController()
      const call = client.rpc.hang({ tag: "h1" }, { signal: controller.signal })
      await new Promise((r) => setTimeout(r, 50))
      controller.abort()
      expect((await rejection(call)).code).toBe("CANCELLED")
      await waitFor(() => state.aborted.has("h1"), 3000, "the server to abort the handler")
    })

    it("fans topic messages out to every subscriber, in order", async () => {
      const fixture = await setup()
      const clients = [fixture.client, await fixture.createClient(), await fixture.createClient()]
      const received = clients.map(() => [] as string[])
      for (const [i, c] of clients.entries()) {
        c.topics.room("lobby").subscribe((m) => received[i]?.push(`${m.user}:${m.text}:${m.at.getTime()}`))
      }
      await waitFor(() => fixture.subscribers("room", "lobby") === 3, 3000, "3 subscribers")
      const expected: string[] = []
      for (let i = 0; i < 50; i++) {
        fixture.publish("room", "lobby", { user: "server", text: `m${i}`, at: new Date(i) })
        expected.push(`server:m${i}:${i}`)
      }
      await clients[1]?.topics.room("lobby").publish({ user: "c1", text: "hello", at: new Date(1000) })
      expected.push("c1:hello:1000")
      await waitFor(() => received.every((r) => r.length === expected.length), 5000, "every message everywhere")
      for (const r of received) expect(r).toEqual(expected)
    })

    it("stops delivering after unsubscribe", async () => {
      const fixture = await setup()
      const got: number[] = []
      const off = fixture.client.topics.feed("k").subscribe((n) => got.push(n))
      await waitFor(() => fixture.subscribers("feed", "k") === 1, 3000, "the subscription")
      fixture.publish("feed", "k", 1)
      await waitFor(() => got.length === 1)
      off()
      await waitFor(() => fixture.subscribers("feed", "k") === 0, 3000, "the unsubscription")
      fixture.publish("feed", "k", 2)
      expect(await fixture.client.rpc.add({ a: 0, b: 0 })).toBe(0)
      expect(got).toEqual([1])
    })

    it("lists a key's members and tells joins and leaves to a subscriber that asked (presence)", async () => {
      const fixture = await setup()
      const { client } = fixture
      const events: string[] = []
      const name = (id: string | undefined) => (id === client.sessionId ? "me" : "other")
      client.topics.lobby("k").subscribe(() => {}, {
        presence: {
          join: (m) => events.push(`join ${name(m.id)} ${m.data.name === `k:${m.id}`} ${m.data.since.getTime()}`),
          leave: (m) => events.push(`leave ${name(m.id)}`),
        },
      })
      await waitFor(() => events.length === 1, 5000, "this client's own join")
      const other = await fixture.createClient()
      const off = other.topics.lobby("k").subscribe(() => {})
      await waitFor(() => events.length === 2, 5000, "the other client's join")
      const members = await other.topics.lobby("k").presence()
      expect(members.map((m) => name(m.id)).sort()).toEqual(["me", "other"])
      expect(members.every((m) => m.data.since instanceof Date)).toBe(true)
      // A dropped connection that resumes is still a member: nobody leaves.
      expect(await fixture.drop()).toBeGreaterThanOrEqual(1)
      expect((await client.topics.lobby("k").presence()).length).toBe(2)
      off()
      await waitFor(() => events.length === 3, 5000, "the other client's leave")
      expect(events).toEqual(["join me true 0", "join other true 0", "leave other"])
      expect((await client.topics.lobby("k").presence()).map((m) => name(m.id))).toEqual(["me"])
    })

    it("delivers an unreliable topic latest-value-wins: a burst arrives as its last message", async () => {
      const fixture = await setup()
      const got: number[] = []
      fixture.client.topics.cursor("k").subscribe((n) => got.push(n))
      await waitFor(() => fixture.subscribers("cursor", "k") === 1, 3000, "the subscription")
      // One tick on the server: every message waits in the key's slot, and only the last leaves.
      for (let n = 1; n <= 100; n++) fixture.publish("cursor", "k", n)
      await waitFor(() => got.includes(100), 5000, "the latest message")
      fixture.publish("cursor", "k", 101)
      await waitFor(() => got.includes(101), 5000, "the next message")
      expect(got).toEqual([100, 101])
    })

    it("iterates an unreliable stream to its end, never an item older than the one before", async () => {
      const { client } = await setup()
      const items: number[] = []
      for await (const n of client.streams.telemetry({ count: 30 })) items.push(n)
      expect(items.length).toBeGreaterThan(0)
      expect(items.every((n, i) => n >= 1 && n <= 30 && (i === 0 || n > (items[i - 1] as number)))).toBe(true)
      expect(await client.rpc.add({ a: 1, b: 2 })).toBe(3)
    })

    it("detects a silent network by heartbeat and resumes the same session", async () => {
      const fixture = await setup({ serverLimits: { heartbeatIntervalMs: 100, heartbeatTimeoutMs: 150 } })
      const { client } = fixture
      expect(await client.rpc.add({ a: 1, b: 1 })).toBe(2)
      const sessionId = client.sessionId
      const states: string[] = []
      client.on("state", (s) => states.push(s))
      await fixture.stall(true)
      await waitFor(() => states.includes("reconnecting"), 3000, "the heartbeat timeout")
      await fixture.stall(false)
      await waitFor(() => client.state === "connected", 5000, "reconnection")
      expect(await client.rpc.add({ a: 2, b: 2 })).toBe(4)
      expect(client.sessionId).toBe(sessionId)
    })

    it("survives a dropped connection under load: nothing lost, nothing repeated", async () => {
      const fixture = await setup()
      const { client } = fixture
      const sessionId = client.sessionId

      const feed: number[] = []
      client.topics.feed("load").subscribe((n) => feed.push(n))
      const room: string[] = []
      client.topics.room("load").subscribe((m) => room.push(m.text))
      await waitFor(() => fixture.subscribers("feed", "load") === 1 && fixture.subscribers("room", "load") === 1)

      const ticks: number[] = []
      const streamDone = (async () => {
        for await (const n of client.streams.ticks({ tag: "load", intervalMs: 2 })) {
          ticks.push(n)
          if (n === 150) break
        }
      })()

      let published = 0
      const publisher = setInterval(() => {
        for (let i = 0; i < 4 && published < 300; i++) fixture.publish("feed", "load", published++)
      }, 2)
      const calls = Array.from({ length: 100 }, (_, i) => client.rpc.delayed({ ms: (i * 7) % 40, value: i }))
      const publishes = Array.from({ length: 20 }, (_, i) =>
        client.topics.room("load").publish({ user: "me", text: `p${i}`, at: new Date(i) }),
      )
      await new Promise((r) => setTimeout(r, 15))
      expect(await fixture.drop()).toBeGreaterThanOrEqual(1)

      const results = await Promise.all(calls)
      expect(results).toEqual(Array.from({ length: 100 }, (_, i) => i))
      await Promise.all(publishes)
      await streamDone
      await waitFor(() => published === 300, 10_000, "the publisher")
      clearInterval(publisher)
      await waitFor(() => feed.length >= 300 && room.length >= 20, 10_000, "every topic message")

      expect(client.sessionId).toBe(sessionId)
      expect(ticks).toEqual(Array.from({ length: 151 }, (_, i) => i))
      expect(feed).toEqual(Array.from({ length: 300 }, (_, i) => i))
      expect(room).toEqual(Array.from({ length: 20 }, (_, i) => `p${i}`))
    })
  })
}
