import { createServer as createHttpServer } from "node:http"
import type { AddressInfo, Socket } from "node:net"
import { TestContract } from "@switchyard/core/testing"
import { createServer } from "@switchyard/server-node"
import { countingHandlers, type Runs } from "../counting.ts"

/**
 * The server process of the soak (scripts/soak.mjs): the test contract on its own HTTP server on
 * 127.0.0.1, so that its memory, handles and crashes are its own. Driven over IPC by soak/run.ts:
 * `stats` (after a full GC: RSS, heap, active handles, open sockets, uncaught errors, calls run twice),
 * `publish` (start `feed(key)` at `rate` messages/s), `stop` (stop publishing; answers how many),
 * `cut` (destroy every open socket, the fallback when `ss -K` is not at hand).
 */

export type SoakCommand =
  | { readonly cmd: "stats" }
  | { readonly cmd: "publish"; readonly key: string; readonly rate: number }
  | { readonly cmd: "stop" }
  | { readonly cmd: "cut" }

export interface SoakStats {
  readonly rssMiB: number
  readonly heapMiB: number
  readonly handles: number
  readonly sockets: number
  readonly uncaught: readonly string[]
  /** Calls of `add` that ran more than once. */
  readonly ranTwice: number
  readonly published: number
}

const runs: Runs = new Map()
const uncaught: string[] = []
process.on("uncaughtException", (error) => uncaught.push(String(error?.stack ?? error)))
process.on("unhandledRejection", (error) => uncaught.push(String((error as Error)?.stack ?? error)))

const server = createServer(TestContract, countingHandlers(runs), {
  limits: { resumeWindowMs: 60_000 },
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

let published = 0
let publisher: ReturnType<typeof setInterval> | undefined
const mib = (bytes: number) => Math.round((bytes / 1024 / 1024) * 10) / 10

function stats(): SoakStats {
  ;(globalThis as { gc?: () => void }).gc?.()
  const memory = process.memoryUsage()
  return {
    rssMiB: mib(memory.rss),
    heapMiB: mib(memory.heapUsed),
    handles: (process as unknown as { _getActiveHandles(): unknown[] })._getActiveHandles().length,
    sockets: sockets.size,
    uncaught,
    ranTwice: [...runs.values()].filter((n) => n > 1).length,
    published,
  }
}

process.on("message", (message: SoakCommand) => {
  switch (message.cmd) {
    case "stats":
      return process.send?.({ stats: stats() })
    case "publish": {
      const { key, rate } = message
      // In ticks of 10 ms, so that the rate holds above 100 messages/s.
      const perTick = rate / 100
      let owed = 0
      publisher = setInterval(() => {
        owed += perTick
        for (; owed >= 1; owed--) server.topics.feed(key).publish(++published)
      }, 10)
      return process.send?.({ publishing: true })
    }
    case "stop":
      clearInterval(publisher)
      return process.send?.({ published })
    case "cut": {
      const count = sockets.size
      for (const socket of sockets) socket.destroy()
      return process.send?.({ cut: count })
    }
  }
})
process.on("disconnect", () => process.exit(0))
process.send?.({ port: (http.address() as AddressInfo).port })
