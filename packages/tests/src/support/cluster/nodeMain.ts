import { readFileSync } from "node:fs"
import { createServer as createHttpServer, type Server as HttpServer } from "node:http"
import type { AddressInfo } from "node:net"
import { join } from "node:path"
import { monitorEventLoopDelay } from "node:perf_hooks"
import { parseArgs } from "node:util"
import { TestContract, type TestServerState } from "@switchyard/core/testing"
import { type Broker, createServer, type Server } from "@switchyard/server-node"
import { countingHandlers, type Runs } from "../counting.ts"

/**
 * One Switchyard node as its own Node process (nodes.ts bundles this file with esbuild and runs it): the
 * test contract with the tests' handlers (`add` counting its runs), on 127.0.0.1, on the port given or a
 * free one. It prints `switchyard node listening on <port>` once listening (and says so over IPC when
 * there is a channel); SIGTERM closes the server gracefully, then the process exits.
 *
 * argv: `--port <n>` (default 0), `--broker <url>` (handed to the broker factory the bundle was built
 * with), `--heartbeat-interval-ms`, `--heartbeat-timeout-ms`, `--resume-window-ms`, `--topic-history-size`, `--site <dir>` (the
 * node also serves `<dir>/index.html` at `/` and `<dir>/client.js`, so that a page and its endpoint
 * share an origin behind a balancer: the Chromium tests).
 *
 * IPC, parent → node: `{ type: "publish", batch: [{ topic, key, message }, …] }`, published in one tick; `{ type: "watch", topic, key }`, after
 * which the node reports `{ type: "subscribers", topic, key, count }` whenever that count changes;
 * Node → parent: `{ type: "listening", port }`, `{ type: "aborted", tag }` (a handler's `ctx.signal`
 * aborted), `{ type: "ran", keys }` (the `add` calls run since the last report, batched per tick, so that
 * a node killed with SIGKILL has reported nearly all it ran), `{ type: "published", messages }` (the
 * publications the broker took since the last report, batched the same way).
 * `{ type: "ask", id, what }` is answered `{ type: "answer", id, value }`: `"reset"` forgets the aborted
 * tags (a cluster shared by the tests of a file starts each test clean), `"sessions"` is the count of
 * sessions the node holds, `"load"` its {@link NodeLoad} since the last such ask (the soak's figures), `"settled"` is answered (null) once
 * every publish handed to the node before it has settled and been reported.
 */

/** A node's CPU (cores used, 1 = one core busy) and event-loop delay since it was last asked. */
export interface NodeLoad {
  readonly cpu: number
  readonly lagP99Ms: number
  readonly lagMaxMs: number
}

/** Makes the broker of this node from `--broker`, or none: the bundle's entry passes it (nodes.ts). */
export type BrokerFactory = ((url: string) => Broker) | undefined

type Topic = "room" | "feed" | "cursor"
type Publish = { readonly topic: Topic; readonly key: string; readonly message: unknown }
type Parent = Pick<NodeJS.Process, "send" | "connected">

export async function main(makeBroker: BrokerFactory): Promise<void> {
  const { values } = parseArgs({
    options: {
      port: { type: "string", default: "0" },
      broker: { type: "string" },
      "heartbeat-interval-ms": { type: "string" },
      "heartbeat-timeout-ms": { type: "string" },
      "topic-history-size": { type: "string" },
      "resume-window-ms": { type: "string", default: "10000" },
      site: { type: "string" },
    },
  })
  const parent: Parent | undefined = process.send ? process : undefined
  const tell = (message: object) => {
    if (parent?.connected) parent.send?.(message)
  }

  const aborted = new Set<string>()
  const state: TestServerState = {
    aborted: new Proxy(aborted, {
      get(target, name) {
        if (name === "add") {
          return (tag: string) => {
            tell({ type: "aborted", tag })
            return target.add(tag)
          }
        }
        const value = Reflect.get(target, name, target)
        return typeof value === "function" ? value.bind(target) : value
      },
    }),
  }
  const ran: string[] = []
  // Publications the broker took (their promise resolved), reported in batches like `ran`.
  const published: unknown[] = []
  // Publishes not settled yet (the broker has neither taken nor refused them).
  const publishing = new Set<Promise<void>>()
  const runs: Runs = new (class extends Map<string, number> {
    override set(key: string, value: number) {
      if (ran.push(key) === 1) setImmediate(() => tell({ type: "ran", keys: ran.splice(0) }))
      return super.set(key, value)
    }
  })()
  const limits = {
    // Every client of a test or a soak comes from 127.0.0.1 through the balancer: one address stands for
    // a thousand users here, so the per-address session bounds (docs/limits.md#sessions) are lifted.
    maxSessionsPerIp: Number.POSITIVE_INFINITY,
    newSessionBurstPerIp: Number.POSITIVE_INFINITY,
    resumeWindowMs: Number(values["resume-window-ms"]),
    ...(values["heartbeat-interval-ms"] ? { heartbeatIntervalMs: Number(values["heartbeat-interval-ms"]) } : {}),
    ...(values["heartbeat-timeout-ms"] ? { heartbeatTimeoutMs: Number(values["heartbeat-timeout-ms"]) } : {}),
    ...(values["topic-history-size"] ? { topicHistorySize: Number(values["topic-history-size"]) } : {}),
  }
  if (values.broker !== undefined && makeBroker === undefined) {
    throw new Error("--broker given, but this node was built without a broker factory")
  }
  const broker = values.broker !== undefined && makeBroker ? { broker: makeBroker(values.broker) } : {}
  const { server, port, site } = await listen(
    () => createServer(TestContract, countingHandlers(runs, state), { limits, onError: () => {}, ...broker }),
    Number(values.port),
    values.site,
  )
  console.log(`switchyard node listening on ${port}`)
  tell({ type: "listening", port })

  const watched = new Map<string, { topic: Topic; key: string; count: number }>()
  let watching: NodeJS.Timeout | undefined
  const report = () => {
    for (const w of watched.values()) {
      const count = server.topics[w.topic](w.key).subscribers
      if (count === w.count) continue
      w.count = count
      tell({ type: "subscribers", topic: w.topic, key: w.key, count })
    }
  }
  // What this process spent since the last "load" ask: the soak's per-step figures of each node.
  const lag = monitorEventLoopDelay({ resolution: 10 })
  lag.enable()
  let cpu = process.cpuUsage()
  let since = performance.now()
  const load = (): NodeLoad => {
    const used = process.cpuUsage(cpu)
    const now = performance.now()
    const value = {
      cpu: (used.user + used.system) / 1000 / (now - since),
      lagP99Ms: lag.percentile(99) / 1e6,
      lagMaxMs: lag.max / 1e6,
    }
    cpu = process.cpuUsage()
    since = now
    lag.reset()
    return value
  }
  type Message = { type: string; topic: Topic; key: string; batch: Publish[]; id: number; what: string }
  process.on("message", (message: Message) => {
    if (message.type === "ask") {
      // Once every publish handed to this node so far has settled (taken by the broker or refused), and
      // its "published" report has gone: the parent's count of what is due is then complete.
      if (message.what === "settled") {
        void Promise.allSettled(publishing).then(() =>
          setImmediate(() => tell({ type: "answer", id: message.id, value: null })),
        )
        return
      }
      if (message.what === "reset") aborted.clear()
      const value = message.what === "sessions" ? server.sessionCount : message.what === "load" ? load() : null
      return tell({ type: "answer", id: message.id, value })
    }
    // A batch is published in one tick, as the publishes of one tick of the parent were made.
    if (message.type === "publish") {
      for (const p of message.batch) {
        const settled = server.topics[p.topic](p.key)
          .publish(p.message as never)
          .then(
            () => {
              if (published.push(p.message) === 1)
                setImmediate(() => tell({ type: "published", messages: published.splice(0) }))
            },
            // onError has it; a publication the broker did not take is not due to anyone.
            () => {},
          )
        publishing.add(settled)
        void settled.then(() => publishing.delete(settled))
      }
    } else if (message.type === "watch") {
      watched.set(`${message.topic}\0${message.key}`, { topic: message.topic, key: message.key, count: -1 })
      // No event says a topic's subscriber count changed: look every few ms while something is watched.
      watching ??= setInterval(report, 5)
      report()
    }
  })
  process.on("disconnect", () => process.kill(process.pid, "SIGTERM"))
  process.once("SIGTERM", () => {
    clearInterval(watching)
    void server.close().then(
      () => {
        site?.closeAllConnections()
        process.exit(0)
      },
      (error: unknown) => {
        console.error(error)
        process.exit(1)
      },
    )
  })
}

/**
 * A server listening on `port`, retrying for a while when a node that used it before has not released it
 * yet (a server listens once, so each attempt is a new one). With `siteDir`, on an HTTP server that also
 * serves the page.
 */
async function listen(
  create: () => Server<TestContract>,
  port: number,
  siteDir: string | undefined,
): Promise<{ server: Server<TestContract>; port: number; site: HttpServer | undefined }> {
  const deadline = Date.now() + 5000
  for (;;) {
    const server = create()
    const site = siteDir === undefined ? undefined : pageServer(siteDir)
    try {
      if (!site) return { server, port: (await server.listen(port, "127.0.0.1")).port, site }
      server.attach(site)
      await new Promise<void>((resolve, reject) => {
        site.once("error", reject)
        site.listen(port, "127.0.0.1", resolve)
      })
      return { server, port: (site.address() as AddressInfo).port, site }
    } catch (error) {
      await server.close()
      if ((error as NodeJS.ErrnoException).code !== "EADDRINUSE" || Date.now() > deadline) throw error
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
  }
}

/** An HTTP server that serves the page of `dir` (`/` and `/client.js`), 404 elsewhere. */
function pageServer(dir: string): HttpServer {
  const files = new Map([
    ["/", { type: "text/html", body: readFileSync(join(dir, "index.html")) }],
    ["/client.js", { type: "text/javascript", body: readFileSync(join(dir, "client.js")) }],
  ])
  return createHttpServer((request, response) => {
    const file = files.get(request.url ?? "/")
    response.writeHead(file ? 200 : 404, {
      "content-type": `${file?.type ?? "text/plain"}; charset=utf-8`,
      "cache-control": "no-store",
    })
    response.end(file?.body ?? "not found")
  })
}
