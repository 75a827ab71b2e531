import type { Client, PeerConnection } from "@switchyard/core"
import { TestContract, testHandlers, waitFor } from "@switchyard/core/testing"
import { createServer, type Handlers } from "@switchyard/server-node"
import { afterEach, describe, expect, it } from "vitest"
import { checkedPage, servePage } from "./support/chromium.ts"
import { isolatedChromium } from "./support/netns.ts"

type Conn = PeerConnection<TestContract["peers"]>

const cleanup: Array<() => Promise<void>> = []
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn()
})

/**
 * Two pages of one Chromium that runs in a network namespace made for the test, exchanging messages; the
 * server allows direct channels either way. Returns both paths, and the path events seen.
 */
async function exchangeIn(network: "none" | "lan"): Promise<[string, string, string[]]> {
  const server = createServer(TestContract, testHandlers({ aborted: new Set() }) as unknown as Handlers<TestContract>, {
    onError: () => {},
    peers: { authorize: () => true },
  })
  cleanup.push(() => server.close())
  const site = await servePage(server, cleanup)
  const isolated = await isolatedChromium(site.port, network)
  cleanup.push(async () => await isolated[Symbol.asyncDispose]())
  const context = await isolated.browser.newContext()
  const clients: Client<TestContract>[] = []
  for (let i = 0; i < 2; i++) {
    const remote = await checkedPage(`${isolated.origin}/`, cleanup, await context.newPage())
    const client = remote.createClient(TestContract, `${isolated.origin}/switchyard`, {
      transports: ["websocket"],
      peers: { directTimeoutMs: 2000 },
    })
    cleanup.push(() => client.close())
    clients.push(client)
  }
  const [a, b] = clients as [Client<TestContract>, Client<TestContract>]
  await waitFor(() => a.peers.id !== undefined && b.peers.id !== undefined, 10_000, "both pages to connect")
  const incoming = new Promise<Conn>((resolve) => b.peers.onConnection(resolve))
  const ab = await a.peers.connect(b.peers.id as string)
  const ba = await incoming
  const paths: string[] = []
  ab.on("path", (p) => paths.push(p))
  ba.on("path", (p) => paths.push(p))
  const atB: Array<{ x: number; y: number; at: Date }> = []
  const atA: string[] = []
  ba.channels.cursor.subscribe((m) => atB.push(m))
  ab.channels.note.subscribe((m) => atA.push(m))
  await Promise.all([a.rpc.add({ a: 0, b: 0 }), b.rpc.add({ a: 0, b: 0 })])
  const at = new Date("2026-03-04T05:06:07.089Z")
  // Sent while the direct attempt runs, and after it succeeded or was given up.
  for (let i = 1; i <= 10; i++) ab.channels.cursor.send({ x: i, y: i * 10, at })
  await new Promise((resolve) => setTimeout(resolve, 3000))
  for (let i = 11; i <= 20; i++) ab.channels.cursor.send({ x: i, y: i * 10, at })
  ba.channels.note.send("hello from page B")
  await waitFor(() => atB.length === 20 && atA.length === 1, 10_000, "the relayed messages")
  expect(atB).toEqual(Array.from({ length: 20 }, (_, i) => ({ x: i + 1, y: (i + 1) * 10, at })))
  expect(atB[0]?.at).toBeInstanceOf(Date)
  expect(atA).toEqual(["hello from page B"])
  return [ab.path, ba.path, paths.sort()]
}

describe("client.peers between two Chromium pages in a network namespace", () => {
  it("with an interface to connect on, go direct (the control)", async () => {
    expect(await exchangeIn("lan")).toEqual(["direct", "direct", ["direct", "direct"]])
  })

  it("with no network between the peers, exchange contract-typed messages over the server relay, and say so", async () => {
    expect(await exchangeIn("none")).toEqual(["relay", "relay", []])
  })
})
