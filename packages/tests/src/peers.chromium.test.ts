import type { Client, PeerConnection } from "@switchyard/core"
import { TestContract, testHandlers, waitFor } from "@switchyard/core/testing"
import { createServer, type Handlers } from "@switchyard/server-node"
import { afterEach, describe, expect, it } from "vitest"
import { checkedPage, servePage } from "./support/chromium.ts"
import type { RemoteClientOptions } from "./support/remoteClient.ts"

type Conn = PeerConnection<TestContract["peers"]>

const cleanup: Array<() => Promise<void>> = []
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn()
})

/**
 * Two Chromium pages on the same site, each with a client of its own on the page's native WebSocket
 * and RTCPeerConnection, and a server that lets any two clients connect (`direct` as given).
 */
async function twoPages(
  direct: boolean,
  options: readonly [RemoteClientOptions, RemoteClientOptions] = [{}, {}],
): Promise<[Client<TestContract>, Client<TestContract>]> {
  const server = createServer(TestContract, testHandlers({ aborted: new Set() }) as unknown as Handlers<TestContract>, {
    onError: () => {},
    peers: { authorize: () => true, direct },
  })
  cleanup.push(() => server.close())
  const { origin } = await servePage(server, cleanup)
  const clients: Client<TestContract>[] = []
  for (let i = 0; i < 2; i++) {
    const remote = await checkedPage(`${origin}/`, cleanup)
    const client = remote.createClient(TestContract, `${origin}/switchyard`, {
      transports: ["websocket"],
      ...options[i],
    })
    cleanup.push(() => client.close())
    clients.push(client)
  }
  const [a, b] = clients as [Client<TestContract>, Client<TestContract>]
  await waitFor(() => a.peers.id !== undefined && b.peers.id !== undefined, 5000, "both pages to connect")
  return [a, b]
}

/** Page A connects to page B; both exchange contract-typed messages; returns both sides. */
async function exchange(a: Client<TestContract>, b: Client<TestContract>): Promise<[Conn, Conn]> {
  const incoming = new Promise<Conn>((resolve) => b.peers.onConnection(resolve))
  const ab = await a.peers.connect(b.peers.id as string)
  const ba = await incoming
  expect([ab.peerId, ba.peerId]).toEqual([b.peers.id, a.peers.id])
  return [ab, ba]
}

async function traffic(
  pages: readonly [Client<TestContract>, Client<TestContract>],
  ab: Conn,
  ba: Conn,
): Promise<void> {
  const atB: Array<{ x: number; y: number; at: Date }> = []
  const atA: string[] = []
  ba.channels.cursor.subscribe((m) => atB.push(m))
  ab.channels.note.subscribe((m) => atA.push(m))
  // Subscriptions are fired at the pages, which run operations in order: a call through each page
  // returns only once they are in place.
  await Promise.all(pages.map((client) => client.rpc.add({ a: 0, b: 0 })))
  const at = new Date("2026-03-04T05:06:07.089Z")
  for (let i = 1; i <= 20; i++) ab.channels.cursor.send({ x: i, y: i * 10, at })
  ba.channels.note.send("hello from page B")
  await waitFor(() => atB.length === 20 && atA.length === 1, 10_000, "the messages in both pages")
  expect(atB).toEqual(Array.from({ length: 20 }, (_, i) => ({ x: i + 1, y: (i + 1) * 10, at })))
  expect(atB[0]?.at).toBeInstanceOf(Date)
  expect(atA).toEqual(["hello from page B"])
}

describe("client.peers between two Chromium pages", () => {
  it("exchange contract-typed messages over a direct data channel", async () => {
    const [a, b] = await twoPages(true)
    const [ab, ba] = await exchange(a, b)
    const asked = performance.now()
    await waitFor(() => ab.path === "direct" && ba.path === "direct", 15_000, "the direct data channel")
    console.log(`peers: direct ${Math.round(performance.now() - asked)} ms after the connection opened`)
    await traffic([a, b], ab, ba)
    expect([ab.path, ba.path]).toEqual(["direct", "direct"])
  })

  it("with direct channels forbidden, the same exchange passes over the server relay and says so", async () => {
    const [a, b] = await twoPages(false)
    const [ab, ba] = await exchange(a, b)
    await traffic([a, b], ab, ba)
    expect([ab.path, ba.path]).toEqual(["relay", "relay"])
  })

  it("when the direct channel cannot be made, the same exchange passes over the relay and says so", async () => {
    // Page B never answers an offer (as behind a network that drops WebRTC): A's attempt is given up.
    const [a, b] = await twoPages(true, [{ peers: { directTimeoutMs: 1000 } }, { peers: { direct: false } }])
    const [ab, ba] = await exchange(a, b)
    const paths: string[] = []
    ab.on("path", (p) => paths.push(p))
    ba.on("path", (p) => paths.push(p))
    await traffic([a, b], ab, ba)
    // Past A's attempt: the connection stays on the relay.
    await new Promise((resolve) => setTimeout(resolve, 1500))
    await traffic([a, b], ab, ba)
    expect([ab.path, ba.path, paths]).toEqual(["relay", "relay", []])
  })
})
