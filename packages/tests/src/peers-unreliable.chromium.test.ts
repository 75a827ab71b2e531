import type { Client, PeerConnection } from "@switchyard/core"
import { TestContract, testHandlers, waitFor } from "@switchyard/core/testing"
import { createServer, type Handlers } from "@switchyard/server-node"
import type { Page } from "playwright-core"
import { afterEach, describe, expect, it } from "vitest"
import { checkedPage, newPage, servePage } from "./support/chromium.ts"
import { channelLog, watchChannels } from "./support/pageChannels.ts"

type Conn = PeerConnection<TestContract["peers"]>
type Position = { readonly x: number; readonly y: number }
type Cursor = { readonly x: number; readonly y: number; readonly at: Date }

const cleanup: Array<() => Promise<void>> = []
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn()
})

/** Two Chromium pages, each with its client and its channels watched, and a server that lets them connect. */
async function twoPages(direct: boolean) {
  const server = createServer(TestContract, testHandlers({ aborted: new Set() }) as unknown as Handlers<TestContract>, {
    onError: () => {},
    peers: { authorize: () => true, direct },
  })
  cleanup.push(() => server.close())
  const { origin } = await servePage(server, cleanup)
  const pages: Page[] = []
  const clients: Client<TestContract>[] = []
  for (let i = 0; i < 2; i++) {
    const page = await newPage()
    cleanup.push(() => page.close())
    await page.addInitScript(watchChannels)
    const remote = await checkedPage(`${origin}/`, cleanup, page)
    const client = remote.createClient(TestContract, `${origin}/switchyard`, { transports: ["websocket"] })
    cleanup.push(() => client.close())
    pages.push(page)
    clients.push(client)
  }
  const [a, b] = clients as [Client<TestContract>, Client<TestContract>]
  await waitFor(() => a.peers.id !== undefined && b.peers.id !== undefined, 5000, "both pages to connect")
  const incoming = new Promise<Conn>((resolve) => b.peers.onConnection(resolve))
  const ab = await a.peers.connect(b.peers.id as string)
  const ba = await incoming
  return { pages: pages as [Page, Page], clients: [a, b] as const, ab, ba }
}

/** B listens to both channels; A sends 30 positions (unreliable) with a cursor (reliable) after every third. */
async function traffic(clients: readonly [Client<TestContract>, Client<TestContract>], ab: Conn, ba: Conn) {
  const positions: Position[] = []
  const cursors: Cursor[] = []
  ba.channels.position.subscribe((m) => positions.push(m))
  ba.channels.cursor.subscribe((m) => cursors.push(m))
  // The pages run operations in order: a call through each returns once the subscriptions are in place.
  await Promise.all(clients.map((client) => client.rpc.add({ a: 0, b: 0 })))
  const at = new Date("2026-12-06T04:00:00.000Z")
  for (let i = 1; i <= 30; i++) {
    ab.channels.position.send({ x: i, y: -i })
    if (i % 3 === 0) ab.channels.cursor.send({ x: i / 3, y: 0, at })
  }
  await waitFor(() => positions.at(-1)?.x === 30 && cursors.length === 10, 10_000, "the last position and every cursor")
  // Reliable messages are untouched: all of them, in order, Dates decoded.
  expect(cursors).toEqual(Array.from({ length: 10 }, (_, i) => ({ x: i + 1, y: 0, at })))
  // Unreliable ones: some may be missing, none is older than one before it.
  const xs = positions.map((p) => p.x)
  expect(xs).toEqual([...xs].sort((p, q) => p - q))
  expect(new Set(xs).size).toBe(xs.length)
  return positions
}

/** Waits for the connection's direct path, and for both pages' lossy channel to open. */
async function direct(pages: readonly Page[], ab: Conn, ba: Conn) {
  await waitFor(() => ab.path === "direct" && ba.path === "direct", 15_000, "the direct data channel")
  for (const page of pages) {
    await page.waitForFunction(
      () => (window as unknown as { __lossy?: RTCDataChannel }).__lossy?.readyState === "open",
      undefined,
      { timeout: 5000 },
    )
  }
}

describe("unreliable peer channels between two Chromium pages", () => {
  it("go direct on an unordered, never-retransmitting channel; older than the newest are dropped; reliable ones are unaffected", async () => {
    const { pages, clients, ab, ba } = await twoPages(true)
    await direct(pages, ab, ba)
    const positions = await traffic(clients, ab, ba)
    const [atA, atB] = await Promise.all(pages.map(channelLog))
    // Both pages made the lossy channel themselves, and the browser reports it unordered with no retransmits.
    for (const log of [atA, atB]) {
      expect(log?.made.find((c) => c.label === "switchyard-peer-latest")).toEqual({
        label: "switchyard-peer-latest",
        ordered: false,
        maxRetransmits: 0,
        negotiated: true,
        id: 16,
      })
    }
    expect(atA?.made.find((c) => c.label === "switchyard-peer")?.ordered).toBe(true)
    // Every position left A on the lossy channel (none through the server), the cursors on the reliable one.
    expect(atA?.sent["switchyard-peer-latest"]).toBe(30)
    expect(atA?.sent["switchyard-peer"]).toBe(10)
    expect(atB?.received["switchyard-peer-latest"]).toBe(30)
    // On loopback nothing is lost: B got each position.
    expect(positions).toHaveLength(30)

    // A message older than the newest delivered (n 10 < 30), written onto the real lossy channel, is dropped;
    // a newer one behind it is delivered.
    const delivered: Position[] = []
    ba.channels.position.subscribe((m) => delivered.push(m))
    await clients[1].rpc.add({ a: 0, b: 0 })
    await pages[0].evaluate(() => {
      const lossy = (window as unknown as { __lossy: RTCDataChannel }).__lossy
      lossy.send('["u",10,"position",{"x":-10,"y":0}]')
      lossy.send('["u",31,"position",{"x":31,"y":0}]')
    })
    await waitFor(() => delivered.length > 0, 5000, "the newer message")
    await clients[1].rpc.add({ a: 0, b: 0 })
    expect(delivered).toEqual([{ x: 31, y: 0 }])
    expect((await channelLog(pages[1]))?.received["switchyard-peer-latest"]).toBe(32)
    expect([ab.path, ba.path, ab.state, ba.state]).toEqual(["direct", "direct", "open", "open"])
  })

  it("go direct no faster than the lossy channel drains: past 64 KiB unsent, the newest waits", async () => {
    const { pages, clients, ab, ba } = await twoPages(true)
    await direct(pages, ab, ba)
    const delivered: Position[] = []
    ba.channels.position.subscribe((m) => delivered.push(m))
    // B's page runs operations in order: a call through it returns once the subscription is in place.
    await clients[1].rpc.add({ a: 0, b: 0 })
    // 5,000 positions (~200 KB) in one task would all queue in the browser. Writes stop once the lossy
    // channel holds 64 KiB unsent; the newest waits, and arrives once it drains.
    const burst = 5000
    const before = (await channelLog(pages[0]))?.sent["switchyard-peer-latest"] ?? 0
    const sentInPage = await pages[0].evaluate((count) => {
      type Driver = { peerSend(handle: number, channel: string, message: unknown): unknown }
      // A position as the page driver takes it (support/remoteClient.ts, toWire).
      const position = (x: number, y: number) => ["o", { x: ["v", x], y: ["v", y] }]
      const driver = (globalThis as unknown as { switchyard: Driver }).switchyard
      // The page's handle of A's connection (numbered with the page's other operations): the one that takes a position.
      const handle = Array.from({ length: 1000 }, (_, i) => i + 1).find(
        (h) => driver.peerSend(h, "position", position(1000, 0)) === null,
      )
      if (handle === undefined) return -1
      for (let i = 1; i <= count; i++) driver.peerSend(handle, "position", position(1000 + i, i))
      return count + 1
    }, burst)
    expect(sentInPage).toBe(burst + 1)
    await waitFor(() => delivered.at(-1)?.x === 1000 + burst, 10_000, "the newest position of the burst")
    const afterBurst = await channelLog(pages[0])
    const written = (afterBurst?.sent["switchyard-peer-latest"] ?? 0) - before
    expect(written, `${written} of ${burst + 1} written`).toBeLessThan(burst)
    expect(afterBurst?.buffered["switchyard-peer-latest"]).toBeLessThanOrEqual(64 * 1024)
    const xs = delivered.map((p) => p.x)
    expect(xs).toEqual([...new Set(xs)].sort((p, q) => p - q))
    expect([ab.path, ba.path, ab.state, ba.state]).toEqual(["direct", "direct", "open", "open"])
  })

  it("with direct channels forbidden, go through the server relay, newest only, beside the reliable ones", async () => {
    const { pages, clients, ab, ba } = await twoPages(false)
    const positions = await traffic(clients, ab, ba)
    // The relay over a healthy WebSocket drops nothing.
    expect(positions).toHaveLength(30)
    const logs = await Promise.all(pages.map(channelLog))
    expect(logs.map((log) => log?.made)).toEqual([[], []])
    expect([ab.path, ba.path]).toEqual(["relay", "relay"])
  })
})
