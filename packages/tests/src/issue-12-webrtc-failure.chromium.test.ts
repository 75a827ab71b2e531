import type { Client, TransportId } from "@switchyard/core"
import { TestContract, testHandlers, waitFor } from "@switchyard/core/testing"
import { createServer, type Handlers } from "@switchyard/server-node"
import { webrtcServer } from "@switchyard/webrtc-data/server"
import { afterEach, describe, expect, it } from "vitest"
import { ChannelNetwork } from "./support/channelNetwork.ts"
import { checkedPage, newPage, servePage } from "./support/chromium.ts"
import { fastReconnect } from "./support/harnesses.ts"

const cleanup: Array<() => Promise<void>> = []
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn()
})

/** Clients per test, each on a peer connection of its own, failing at once: one try each. */
const TRIES = Number(process.env.WEBRTC_FAILURE_TRIES ?? 10)

/**
 * Runs in the page before its script: every RTCPeerConnection made records its connection states, with the
 * time each came (`Date.now()`, the clock Node reads too), in `globalThis.__peerStates`, by order made.
 */
const RECORD_PEER_STATES = `(() => {
  const Native = globalThis.RTCPeerConnection
  const all = (globalThis.__peerStates = [])
  globalThis.RTCPeerConnection = class extends Native {
    constructor(configuration) {
      super(configuration)
      const states = []
      all.push(states)
      this.addEventListener("connectionstatechange", () => states.push([this.connectionState, Date.now()]))
    }
  }
})()`

interface Try {
  readonly client: Client<TestContract>
  readonly switches: Array<[TransportId, string, number]>
  /** The connection states of the page's peer connections, by order made; the client's is the first. */
  peerStates(): Promise<Array<Array<[string, number]>>>
}

/**
 * Clients (WebRTC and long polling) moved to a data channel each, on one server whose peer connections are
 * on a ChannelNetwork that routes each through a UDP relay. Each client has a page and an origin of its
 * own: Chromium holds at most 6 connections per origin, which long polling would fill after a fall back.
 */
async function onDataChannels(count: number) {
  const channels = new ChannelNetwork({ relayed: true })
  cleanup.push(() => channels[Symbol.asyncDispose]())
  const server = createServer(TestContract, testHandlers({ aborted: new Set() }) as unknown as Handlers<TestContract>, {
    onError: () => {},
    webrtc: webrtcServer({ RTCPeerConnection: channels.RTCPeerConnection as never }),
  })
  cleanup.push(() => server.close())
  const tries: Try[] = []
  for (let i = 0; i < count; i++) {
    const { origin } = await servePage(server, cleanup)
    const page = await newPage()
    cleanup.push(() => page.close())
    await page.addInitScript(RECORD_PEER_STATES)
    const remote = await checkedPage(`${origin}/`, cleanup, page)
    const client = remote.createClient(TestContract, `${origin}/switchyard`, {
      reconnect: fastReconnect,
      transports: ["webrtc", "long-polling"],
    })
    cleanup.push(() => client.close())
    const switches: Try["switches"] = []
    client.on("transport", (name, reason) => switches.push([name, reason, Date.now()]))
    await waitFor(() => client.transport === "webrtc", 15_000, "the upgrade to WebRTC")
    expect(await client.rpc.add({ a: i, b: 1 })).toBe(i + 1)
    const peerStates = async () => (await page.evaluate("globalThis.__peerStates")) as Array<Array<[string, number]>>
    tries.push({ client, switches, peerStates })
  }
  return { channels, tries }
}

const fellBack = (t: Try) => t.switches.find(([name, reason]) => name === "long-polling" && reason === "fallback")

function summary(label: string, ms: number[]): string {
  const sorted = [...ms].sort((a, b) => a - b)
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]
  return `${label}: ${ms.length} tries, min ${sorted[0]} ms, median ${at(0.5)} ms, max ${sorted.at(-1)} ms`
}

/**
 * Closes every server peer connection at once, after cutting the network under them when `cut`, makes a
 * call on each client at once, and waits until every session has fallen back. Returns, per client, when
 * its session fell back, when its peer connection first said `disconnected` or `failed` (if it did), and
 * when the call was answered (`Date.now()` in Node and in the pages: one clock).
 */
async function failAll(cut: boolean) {
  const { channels, tries } = await onDataChannels(TRIES)
  const failedAt = Date.now()
  if (cut) channels.cut()
  expect(channels.drop()).toBe(TRIES)
  const calls = tries.map(({ client }, i) =>
    client.rpc.add({ a: i, b: 2 }).then(
      (sum) => ({ sum: sum as unknown, at: Date.now() }),
      (error: unknown) => ({ sum: error, at: Date.now() }),
    ),
  )
  await waitFor(() => tries.every((t) => fellBack(t) !== undefined), 60_000, "every session to fall back")
  const seen = await Promise.all(
    tries.map(async (t, i) => {
      const fallbackAt = (fellBack(t) as [TransportId, string, number])[2]
      const [states] = await t.peerStates()
      const failing = states?.find(([state]) => state === "disconnected" || state === "failed")
      return { fallbackAt, failingAt: failing?.[1], states, call: await calls[i] }
    }),
  )
  const label = cut ? "cut" : "abrupt close"
  console.log(
    summary(
      `${label}: server peer connections closed to fall back`,
      seen.map((s) => s.fallbackAt - failedAt),
    ),
  )
  if (cut) {
    const fromFailing = seen.map((s) => s.fallbackAt - (s.failingAt ?? Number.NaN))
    console.log(summary(`${label}: page's peer connection disconnected/failed to fall back`, fromFailing))
  }
  for (const [i, s] of seen.entries()) {
    // The call made after the failure was answered, soon after the fall back (on long polling).
    expect(s.call?.sum, `client ${i}`).toBe(i + 2)
    expect((s.call?.at ?? 0) - s.fallbackAt, `client ${i}`).toBeLessThan(2000)
  }
  // Not probed again at once (upgradeRetryMs is 30 s by default): no new peer connection in any page.
  await new Promise((resolve) => setTimeout(resolve, 1000))
  for (const t of tries) expect((await t.peerStates()).length).toBe(1)
  expect(tries.map((t) => t.client.transport)).toEqual(tries.map(() => "long-polling"))
  return { failedAt, seen }
}

describe("issue 12 (6): a Chromium client notices at once that its WebRTC peer connection failed", () => {
  it("the network between them stops, then the server's peer connection goes: each page's link ends and its session falls back within 5 s of its peer connection failing, calls do not hang, and WebRTC is not probed again at once", async () => {
    // Nothing passes between the pages and the server any more; the server's peer connections then close,
    // and what they send on the way out (SCTP ABORT, DTLS close_notify) is lost with the rest. Each page's
    // channel stays open: only its peer connection's state tells.
    const { seen } = await failAll(true)
    for (const [i, s] of seen.entries()) {
      expect(s.failingAt, `client ${i}: ${JSON.stringify(s.states)}`).toBeDefined()
      expect(s.fallbackAt - (s.failingAt as number), `client ${i}: ${JSON.stringify(s.states)}`).toBeLessThanOrEqual(
        5000,
      )
    }
  }, 120_000)

  it("the server's peer connection closes without closing its channel first: each session falls back within 5 s", async () => {
    const { failedAt, seen } = await failAll(false)
    for (const [i, s] of seen.entries()) expect(s.fallbackAt - failedAt, `client ${i}`).toBeLessThanOrEqual(5000)
  }, 120_000)
})
