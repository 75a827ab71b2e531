import { createServer as createHttpServer } from "node:http"
import type { AddressInfo, Socket } from "node:net"
import { TestContract, waitFor } from "@switchyard/core/testing"
import { createServer } from "@switchyard/server-node"
import { afterEach, expect, it } from "vitest"
import { countingHandlers, type FleetClient, fleetClient, type Mode, type Runs } from "./support/fleet.ts"

/**
 * A reconnect storm at the per-address bound (docs/limits.md#connections-and-messages): every connection
 * of a fleet on one address is cut at once, and every client must be back within seconds. A long-polling
 * client comes back on a new link; its old link, replaced, lingers with frames nobody will collect. It
 * used to hold its place in `maxConnectionsPerIp` for the whole linger (10 s), so that the WebSocket
 * clients of the same address were refused (429) until then: in `pnpm soak`'s storm of 1,000 clients,
 * one WebSocket client in ten took 10 to 13 s to come back.
 */

const cleanup: Array<() => Promise<void>> = []
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn()
})

const key = "storm"

it("a fleet at the per-address bound, cut at once, is back within 5 s (no old link holds a place for its linger)", async () => {
  const runs: Runs = new Map()
  // 20 long-polling and 15 WebSocket clients under a bound of 40 connections from their one address: 35
  // connections before the cut; after it, 35 again once the old long-polling links have made way.
  const server = createServer(TestContract, countingHandlers(runs), {
    limits: { maxConnectionsPerIp: 40 },
    onError: () => {},
  })
  const http = createHttpServer()
  const sockets = new Set<Socket>()
  http.on("connection", (socket) => {
    sockets.add(socket)
    socket.on("close", () => sockets.delete(socket))
  })
  server.attach(http)
  await new Promise<void>((resolve) => http.listen(0, "127.0.0.1", resolve))
  cleanup.push(async () => {
    await server.close()
    http.closeAllConnections()
    await new Promise((resolve) => http.close(resolve))
  })
  const url = `http://127.0.0.1:${(http.address() as AddressInfo).port}/switchyard`
  const modes: Mode[] = [...Array<Mode>(20).fill("long-polling"), ...Array<Mode>(15).fill("websocket")]
  const fleet: FleetClient[] = modes.map((mode, i) => fleetClient(i, mode, { url, key }))
  cleanup.push(async () => {
    await Promise.all(fleet.map((fc) => fc.client.close()))
  })
  await waitFor(() => server.topics.feed(key).subscribers === fleet.length, 10_000, "the fleet subscribed")
  await Promise.all(fleet.map((fc) => fc.client.rpc.add({ a: -1, b: fc.index })))

  // Every socket cut at once (what `ss -K` does to the server's side), then a message a second later and
  // every 100 ms: a client is back when it is connected and has one published after the cut.
  const before = fleet.map((fc) => fc.sessions.length)
  for (const socket of sockets) socket.destroy()
  const cutAt = performance.now()
  let published = 0
  const publisher = setInterval(() => server.topics.feed(key).publish(++published), 100)
  cleanup.push(async () => clearInterval(publisher))
  const backAt: Array<number | undefined> = fleet.map(() => undefined)
  await waitFor(
    () => {
      for (const fc of fleet) {
        if (backAt[fc.index] === undefined && fc.client.state === "connected" && fc.messages.length > 0) {
          backAt[fc.index] = performance.now() - cutAt
        }
      }
      return backAt.every((at) => at !== undefined)
    },
    15_000,
    "every client back",
  ).catch(() => {})
  const late = fleet
    .filter((fc) => (backAt[fc.index] ?? Number.POSITIVE_INFINITY) > 5000)
    .map((fc) => `${fc.index} (${fc.mode}): ${Math.round(backAt[fc.index] ?? -1)} ms`)
  expect(late, "clients back more than 5 s after the cut (-1: not back in 15 s)").toEqual([])
  // The storm resumed every session: none was lost on the way.
  expect(fleet.filter((fc) => fc.sessions.slice(before[fc.index]).some((s) => !s.recovered))).toEqual([])
}, 30_000)
