import { createClient, pollingTransport } from "@switchyard/client-browser/all"
import { nodeFetch } from "@switchyard/client-browser/node"
import type { SwitchyardError } from "@switchyard/core"
import { TestContract, type TestServerState, waitFor } from "@switchyard/core/testing"
import { createServer, type Server } from "@switchyard/server-node"
import { afterEach, describe, expect, it } from "vitest"
import { countingHandlers, type FleetClient, fleetClient, modes, type Runs, within } from "./support/fleet.ts"
import { listenOn } from "./support/listenOn.ts"

/**
 * The server restarted under its clients (docs/sessions.md, "When a session is lost"): `server.close()`
 * ends every session with `BYE SERVER_CLOSED`, a new server comes up on the same port, and every client,
 * whatever its transport, starts a new session there, says so (`recovered: false`), renews its
 * subscription and goes on. Calls in flight at the restart settle (`SESSION_LOST`), never hang; calls
 * made while the server was down run on the new one.
 */

const key = "restart"
const cleanup: Array<() => Promise<void>> = []
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn()
})

/** What became of a call: its value, or its error code. */
type Outcome = { readonly value: unknown } | { readonly code: string; readonly message: string }

function outcome(promise: Promise<unknown>): Promise<Outcome> {
  return promise.then(
    (value) => ({ value }),
    (error: SwitchyardError) => ({ code: error.code, message: error.message }),
  )
}

function start(runs: Runs, state: TestServerState): Server<TestContract> {
  const server = createServer(TestContract, countingHandlers(runs, state), { onError: () => {} })
  cleanup.push(() => server.close())
  return server
}

const label = (fc: FleetClient) => `${fc.index} (${fc.mode})`

/** A server with one client per transport (and one negotiating), all busy, with calls running on the server. */
async function busyFleet() {
  const runs: Runs = new Map()
  const state: TestServerState = { aborted: new Set() }
  const first = start(runs, state)
  const { port } = await first.listen(0, "127.0.0.1")
  const url = `http://127.0.0.1:${port}/switchyard`
  const fleet = modes.map((mode, i) => fleetClient(i, mode, { url, key }))
  cleanup.push(async () => {
    await Promise.all(fleet.map((fc) => fc.client.close()))
  })
  const negotiating = fleet.find((fc) => fc.mode === "negotiating") as FleetClient
  await waitFor(
    () => first.topics.feed(key).subscribers === fleet.length && negotiating.client.transport === "websocket",
    10_000,
    "every client connected and subscribed, the negotiating one upgraded to WebSocket",
  )
  expect(fleet.map((fc) => fc.client.transport)).toEqual(["websocket", "sse", "long-polling", "polling", "websocket"])

  // Traffic: RPC loops on every client, and messages 1..20.
  for (const fc of fleet) fc.startCalls(10)
  for (let n = 1; n <= 20; n++) first.topics.feed(key).publish(n)
  await waitFor(() => fleet.every((fc) => fc.messages.length === 20), 5000, "messages 1..20")
  await waitFor(() => fleet.every((fc) => fc.calls.resolved >= 5), 5000, "RPCs before the restart")

  // Calls the server is running when it closes: a slow one and one that never answers. A `divide` behind
  // them on the same session proves they reached the server (frames are handled in order).
  const inFlight = fleet.map((fc) => ({
    fc,
    delayed: outcome(fc.client.rpc.delayed({ ms: 5000, value: fc.index })),
    hang: outcome(fc.client.rpc.hang({ tag: `restart-${fc.index}` })),
  }))
  await within(Promise.all(fleet.map((fc) => fc.client.rpc.divide({ a: 6, b: 3 }))), 5000, "the barrier calls")
  return { runs, state, first, port, fleet, inFlight, before: fleet.map((fc) => fc.client.sessionId) }
}

/** Both in-flight calls of every client settle, bounded, with SESSION_LOST ("may or may not have run"). */
async function expectLost(inFlight: Awaited<ReturnType<typeof busyFleet>>["inFlight"], ms: number): Promise<void> {
  for (const { fc, delayed, hang } of inFlight) {
    for (const [name, call] of [
      ["delayed", delayed],
      ["hang", hang],
    ] as const) {
      const settled = await within(call, ms, `client ${label(fc)}'s ${name} call to settle`)
      expect(settled, `client ${label(fc)}'s ${name} call`).toMatchObject({ code: "SESSION_LOST" })
      expect((settled as { message: string }).message).toMatch(/may or may not have run/)
    }
  }
}

describe("server restart", () => {
  it("under clients on every transport: they start new sessions, report recovered: false, resubscribe and go on", async () => {
    const { runs, state, first, port, fleet, inFlight, before } = await busyFleet()

    const handshakesBefore = fleet.map((fc) => fc.transports.length)
    const closing = performance.now()
    await within(first.close(), 10_000, "the first server to close")
    const closeMs = performance.now() - closing
    // The handlers of the ended sessions were aborted.
    expect([...state.aborted].sort()).toEqual(fleet.map((fc) => `restart-${fc.index}`).sort())
    await waitFor(() => fleet.every((fc) => fc.client.state === "reconnecting"), 5000, "every client to notice")
    // Calls made while no server is there are queued, and run once on the next one.
    const whileDown = fleet.map((fc) => outcome(fc.client.rpc.divide({ a: 10 + fc.index, b: 1 })))

    const restarting = performance.now()
    const second = await listenOn(() => start(runs, state), port)
    await waitFor(
      () => fleet.every((fc) => fc.client.state === "connected" && fc.sessions.length === 2),
      10_000,
      "every client on the new server",
    )
    const reconnectMs = performance.now() - restarting
    // The calls the old server was running never hang: by now they are settled as lost (the polling
    // client may only have learnt of the loss from the new server: see the known bug below).
    await expectLost(inFlight, 5000)

    for (const [i, fc] of fleet.entries()) {
      // One new session, reported as such, and no resume of the old one.
      expect(
        fc.sessions.map((s) => s.recovered),
        label(fc),
      ).toEqual([false, false])
      expect(fc.sessions[1]?.id, label(fc)).toBe(fc.client.sessionId)
      expect(fc.client.sessionId, label(fc)).not.toBe(before[i])
      // The first handshake on the new server says why (a negotiating client may upgrade after it).
      expect(fc.transports[handshakesBefore[i] ?? 0]?.reason, label(fc)).toBe("new session")
      // The loss was reported: the server's BYE (SERVER_CLOSED), or the new server not knowing the session.
      expect(
        fc.errors.filter((e) => e.code === "SERVER_CLOSED" || e.code === "SESSION_LOST").length,
        label(fc),
      ).toBeGreaterThan(0)
    }
    expect(second.sessionCount).toBe(fleet.length)
    expect(await within(Promise.all(whileDown), 5000, "the calls made while down")).toEqual(
      fleet.map((fc) => ({ value: 10 + fc.index })),
    )

    // The subscriptions are renewed on the new server, and new messages reach everyone.
    await waitFor(() => second.topics.feed(key).subscribers === fleet.length, 5000, "the renewed subscriptions")
    for (let n = 101; n <= 120; n++) second.topics.feed(key).publish(n)
    const expected = [...range(1, 20), ...range(101, 120)]
    await waitFor(() => fleet.every((fc) => fc.messages.length === expected.length), 5000, "messages 101..120")
    for (const fc of fleet) expect(fc.messages, label(fc)).toEqual(expected)

    // RPCs go on: each loop makes progress on the new server, then stops with nothing left hanging.
    const resolvedAtRestart = fleet.map((fc) => fc.calls.resolved)
    await waitFor(
      () => fleet.every((fc, i) => fc.calls.resolved >= (resolvedAtRestart[i] ?? 0) + 10),
      10_000,
      "RPCs on the new server",
    )
    await within(Promise.all(fleet.map((fc) => fc.stopCalls())), 5000, "the RPC loops to stop")
    for (const fc of fleet) {
      expect(fc.calls.wrong, label(fc)).toEqual([])
      // A loop call in flight at the restart may have been lost with its session; nothing else fails.
      expect(
        fc.calls.rejected.map((r) => r.error.code),
        label(fc),
      ).toEqual(fc.calls.rejected.map(() => "SESSION_LOST"))
      expect(fc.calls.rejected.length, label(fc)).toBeLessThanOrEqual(1)
      expect(fc.calls.resolved + fc.calls.rejected.length).toBe(fc.calls.started)
      // Each call ran at most once (a lost one may or may not have), each resolved one exactly once.
      const rejected = new Set(fc.calls.rejected.map((r) => r.call))
      for (let call = 0; call < fc.calls.started; call++) {
        const count = runs.get(`${fc.index}:${call}`) ?? 0
        if (rejected.has(call)) expect(count).toBeLessThanOrEqual(1)
        else expect(count, `${label(fc)} call ${call}`).toBe(1)
      }
    }

    console.log(
      `restart: close took ${Math.round(closeMs)} ms, every client on the new server ${Math.round(reconnectMs)} ms ` +
        `after it listened; transports: ${fleet.map((fc) => `${fc.mode}→${fc.client.transport}`).join(", ")}; ` +
        `negotiating: ${fleet[4]?.transports.map((t) => `${t.name}/${t.reason}`).join(" ")}; loop calls lost with the session: ${fleet.reduce((n, fc) => n + fc.calls.rejected.length, 0)}; ` +
        `errors: ${fleet.map((fc) => `${fc.mode} ${fc.errors.map((e) => e.code).join("+")}`).join(", ")}`,
    )
  })

  it("server.close() tells every client before any server is back (WebSocket, SSE, long polling, negotiating)", async () => {
    const { first, fleet, inFlight } = await busyFleet()
    // The polling client is left out here: see the known bug below.
    const told = fleet.filter((fc) => fc.mode !== "polling")
    await within(first.close(), 10_000, "the server to close")
    // docs/sessions.md: each connected client receives BYE SERVER_CLOSED, reports it as an `error` event and
    // rejects its calls in flight with SESSION_LOST, without waiting for a server to come back.
    await waitFor(
      () => told.every((fc) => fc.errors.some((e) => e.code === "SERVER_CLOSED")),
      3000,
      "every client to report SERVER_CLOSED",
    ).catch((error: Error) => {
      const silent = told.filter((fc) => !fc.errors.some((e) => e.code === "SERVER_CLOSED")).map(label)
      throw new Error(`${error.message}; no SERVER_CLOSED on ${silent.join(", ")}`)
    })
    await expectLost(
      inFlight.filter(({ fc }) => fc.mode !== "polling"),
      3000,
    )
  })

  // A POST that meets the closed link is answered 410. The BYE the server queued for the next poll must still
  // be collected (client-browser/src/transports/http.ts, `collectThenEnd`), or the client would take the close
  // for a dropped connection: no SERVER_CLOSED, and calls in flight pending until some server answered again.
  it("a polling client learns of server.close() even when a POST meets the closed link first", async () => {
    const server = start(new Map(), { aborted: new Set() })
    const { url } = await server.listen(0, "127.0.0.1")
    // Slow polls, so that the POST below reaches the server long before the next poll would.
    const client = createClient(TestContract, {
      url,
      transports: [pollingTransport({ fetch: nodeFetch(), minIntervalMs: 500, maxIntervalMs: 500 })],
      reconnect: { initialDelayMs: 10, maxDelayMs: 200 },
    })
    cleanup.push(() => client.close())
    const errors: string[] = []
    client.on("error", (e) => errors.push(e.code))
    const hanging = outcome(client.rpc.hang({ tag: "polling" }))
    expect(await within(client.rpc.divide({ a: 6, b: 3 }), 5000, "the barrier call")).toBe(2)

    const closed = server.close()
    // Sent at once: it meets the closed link (410) before the next poll collects the BYE.
    const racing = outcome(client.rpc.divide({ a: 1, b: 1 }))
    await within(closed, 10_000, "the server to close")
    await waitFor(() => errors.includes("SERVER_CLOSED"), 3000, "the polling client to report SERVER_CLOSED")
    expect(await within(hanging, 3000, "the hanging call to settle")).toMatchObject({ code: "SESSION_LOST" })
    expect(await within(racing, 3000, "the racing call to settle")).toMatchObject({ code: "SESSION_LOST" })
  })
})

function range(from: number, to: number): number[] {
  return Array.from({ length: to - from + 1 }, (_, i) => from + i)
}
