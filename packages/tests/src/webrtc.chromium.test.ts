import type { TransportId } from "@switchyard/core"
import { TestContract, testHandlers, waitFor } from "@switchyard/core/testing"
import { createServer, type Handlers } from "@switchyard/server-node"
import { UNRELIABLE_CHANNEL } from "@switchyard/webrtc-data"
import { webrtcServer } from "@switchyard/webrtc-data/server"
import { afterEach, describe, expect, it } from "vitest"
import { ChannelNetwork } from "./support/channelNetwork.ts"
import { checkedPage, servePage } from "./support/chromium.ts"
import { fastReconnect } from "./support/harnesses.ts"
import { traffic } from "./support/traffic.ts"

const cleanup: Array<() => Promise<void>> = []
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn()
})

/**
 * A page with the real client bundle, its server's data-channel peers on a ChannelNetwork (so that the
 * test can close them from the server side), and a client that may use WebRTC and long polling only: it
 * starts on long polling, which is all a browser needs to open a session, and moves up.
 */
async function browserClient(ended: Array<[string, string]> = []) {
  const channels = new ChannelNetwork()
  const server = createServer(TestContract, testHandlers({ aborted: new Set() }) as unknown as Handlers<TestContract>, {
    // The default, said here: a session whose client left without its BYE would be kept this long.
    limits: { resumeWindowMs: 60_000 },
    onError: () => {},
    webrtc: webrtcServer({ RTCPeerConnection: channels.RTCPeerConnection as never }),
    onSessionEnd: (session, reason) => void ended.push([session.id, reason]),
  })
  cleanup.push(() => server.close())
  const { origin } = await servePage(server, cleanup)
  const remote = await checkedPage(`${origin}/`, cleanup)
  const client = remote.createClient(TestContract, `${origin}/switchyard`, {
    reconnect: fastReconnect,
    transports: ["webrtc", "long-polling"],
  })
  cleanup.push(() => client.close())
  const switches: Array<[TransportId, string]> = []
  client.on("transport", (name, reason) => switches.push([name, reason]))
  return { server, channels, client, switches }
}

describe("WebRTC data channels (Chromium client, Node server)", () => {
  it("sends an unreliable topic on the second, negotiated data channel, and the page takes it", async () => {
    const { server, channels, client } = await browserClient()
    const cursor: number[] = []
    client.topics.cursor("k").subscribe((n) => cursor.push(n))
    await waitFor(() => client.transport === "webrtc", 15_000, "the upgrade to WebRTC")
    await waitFor(() => server.topics.cursor("k").subscribers === 1, 5000, "the subscription")
    const before = channels.sent.get(UNRELIABLE_CHANNEL) ?? 0
    // One per turn of the event loop, so that conflation keeps each: the page must see the last one.
    for (let n = 1; n <= 50; n++) {
      server.topics.cursor("k").publish(n)
      await new Promise((resolve) => setTimeout(resolve, 2))
    }
    await waitFor(() => cursor.at(-1) === 50, 5000, "the last cursor value")
    expect((channels.sent.get(UNRELIABLE_CHANNEL) ?? 0) - before).toBeGreaterThan(0)
    // Values never go backwards, whatever the channel reordered or lost.
    expect(cursor.every((n, i) => i === 0 || n > (cursor[i - 1] ?? 0))).toBe(true)
    expect(client.transport).toBe("webrtc")
  })

  it("a BYE on the data channel arrives before the channel goes, both ways", async () => {
    // The server closing: the page hears SERVER_CLOSED on the channel, and closes it after the closing message.
    const first = await browserClient()
    const errors: string[] = []
    first.client.on("error", (error) => void errors.push(error.code))
    await waitFor(() => first.client.transport === "webrtc", 15_000, "the upgrade to WebRTC")
    await first.server.close()
    await waitFor(() => errors.includes("SERVER_CLOSED"), 3000, "SERVER_CLOSED in the page")
    // The page let go in answer: the server's peer connection did not wait out CLOSE_GRACE_MS. The page
    // either closed the channel on the server's closing message, or, having read the BYE before it, closed
    // its link itself and sent its own closing message first (a loaded run saw that). close() waits for
    // the peer connections, however they go; the session's goes last (an attempt that failed before it, if
    // any, went earlier).
    expect(first.channels.open).toBe(0)
    expect(["after the remote closed the channel", "after the remote's closing message"]).toContain(
      first.channels.closes.at(-1),
    )

    // The page closing: its BYE reaches the server, which ends the session at once (CLIENT_CLOSED), rather
    // than keep it for the resume window.
    const ended: Array<[string, string]> = []
    const second = await browserClient(ended)
    await waitFor(() => second.client.transport === "webrtc", 15_000, "the upgrade to WebRTC")
    const id = second.client.sessionId
    await second.client.close()
    await waitFor(() => ended.length === 1, 10_000, "the session's end at the server")
    expect(ended).toEqual([[id, "CLIENT_CLOSED"]])
  })

  it("moves from long polling to a data channel under traffic, and back when the server closes the peer connection: nothing lost or repeated", async () => {
    const { server, channels, client, switches } = await browserClient()
    const { messages, results, stop } = traffic(server, client, cleanup, { perTick: 3, everyMs: 5 })
    // The page reports its state to Node asynchronously: wait for the session's id to arrive.
    await waitFor(() => client.sessionId !== undefined, 5000, "the session id")
    const sessionId = client.sessionId

    await waitFor(() => client.transport === "webrtc", 15_000, "the upgrade to WebRTC")
    const upgradedAt = { results: results.length, messages: messages.length }
    await waitFor(
      () => results.length > upgradedAt.results + 50 && messages.length > upgradedAt.messages + 150,
      10_000,
      "traffic on the data channel",
    )
    // The server closes its side of the peer connection: the page sees its channel go, and the session
    // carries on over long polling.
    expect(channels.drop()).toBe(1)
    await waitFor(() => client.transport === "long-polling", 10_000, "the fall back to long polling")
    const fellBackAt = { results: results.length, messages: messages.length }
    await waitFor(
      () => results.length > fellBackAt.results + 20 && messages.length > fellBackAt.messages + 100,
      10_000,
      "traffic after the fall back",
    )
    const published = await stop()

    expect(switches.slice(0, 3)).toEqual([
      ["long-polling", "connected"],
      ["webrtc", "upgrade"],
      ["long-polling", "fallback"],
    ])
    expect(client.sessionId).toBe(sessionId)
    expect(results.every((r) => r === 1)).toBe(true)
    const first = messages[0] ?? 0
    expect(messages).toEqual(Array.from({ length: published - first + 1 }, (_, i) => first + i))
  })
})
