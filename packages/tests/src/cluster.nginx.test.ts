import { once } from "node:events"
import { get, type IncomingMessage, type ServerResponse } from "node:http"
import { afterEach, describe, expect, it } from "vitest"
import WebSocket from "ws"
import { Nginx } from "./support/cluster/nginx.ts"
import { plainUpstream } from "./support/cluster/plainUpstream.ts"
import { within } from "./support/fleet.ts"

/**
 * The nginx load balancer of the many-node tests (support/cluster/nginx.ts): Debian's nginx with a
 * generated round-robin config in front of three plain servers, over real sockets.
 */

const cleanup: Array<() => Promise<void>> = []
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn()
})

async function behindNginx() {
  const ups = await Promise.all(["a", "b", "c"].map(plainUpstream))
  for (const up of ups) cleanup.push(() => up.close())
  const nginx = await Nginx.start(ups.map((u) => u.port))
  cleanup.push(() => nginx[Symbol.asyncDispose]())
  return { ups, nginx }
}

describe("nginx in front of three servers", () => {
  it("spreads WebSockets round-robin and carries messages both ways", async () => {
    const { nginx } = await behindNginx()
    const names: string[] = []
    for (let i = 0; i < 6; i++) {
      const socket = new WebSocket(`ws://127.0.0.1:${nginx.port}/`)
      cleanup.push(async () => socket.terminate())
      const [data] = (await within(once(socket, "message"), 5000, "the greeting")) as [Buffer]
      names.push(data.toString())
    }
    // Round robin, no affinity: each server twice, never the same one twice in a row.
    expect([...names].sort()).toEqual(["a", "a", "b", "b", "c", "c"])
    for (let i = 1; i < names.length; i++) expect(names[i]).not.toBe(names[i - 1])
  })

  it("spreads event streams round-robin and passes each event on as it is written", async () => {
    const { ups, nginx } = await behindNginx()
    const streams: Array<{ res: IncomingMessage; events: string[] }> = []
    for (let i = 0; i < 3; i++) {
      const res = await within(
        new Promise<IncomingMessage>((resolve, reject) => get(`${nginx.url}/sse`, resolve).on("error", reject)),
        5000,
        "an event stream's head",
      )
      cleanup.push(async () => void res.destroy())
      const events: string[] = []
      res.on("data", (chunk: Buffer) => events.push(chunk.toString()))
      await within(once(res, "data"), 5000, "the first event")
      streams.push({ res, events })
    }
    expect(streams.map((s) => s.events[0]?.split(" ")[1]).sort()).toEqual(["a", "b", "c"])
    for (const up of ups) expect(up.held.length).toBe(1)
    // Unbuffered: an event written now arrives while the stream stays open.
    for (const up of ups) (up.held[0] as ServerResponse).write(`data: ${up.name} 2\n\n`)
    for (const { res, events } of streams) {
      if (events.length < 2) await within(once(res, "data"), 5000, "the second event")
      const name = events[0]?.split(" ")[1]
      expect(events.join("")).toBe(`data: ${name} 1\n\ndata: ${name} 2\n\n`)
    }
  })
})
