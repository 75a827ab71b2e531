import { readFile } from "node:fs/promises"
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from "node:http"
import type { AddressInfo, Socket } from "node:net"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { createServer, type Server, type ServerLimits } from "@switchyard/server-node"
import { build } from "esbuild"
import { Dashboard } from "./contract.ts"
import { Sampler } from "./sampler.ts"

export interface DashboardServerOptions {
  /** Default 0: a free port. */
  readonly port?: number
  /** Default `"localhost"`. */
  readonly host?: string
  /** The example's folder (holds `index.html` and `src/page.ts`); defaults to the folder above this file. */
  readonly root?: string
  /** How often the server samples itself. Default 250 ms. */
  readonly intervalMs?: number
  /** Overrides of the Switchyard server's limits. */
  readonly limits?: Partial<ServerLimits>
}

/** A running dashboard: one HTTP server that serves the page and carries the Switchyard transport. */
export interface DashboardServer {
  /** The page's URL, e.g. `http://localhost:3000/`. */
  readonly url: string
  readonly port: number
  readonly switchyard: Server<Dashboard>
  readonly sampler: Sampler
  /** Cuts every open connection (what the page's "Drop the connection" button asks for); answers how many. */
  dropConnections(except?: Socket): number
  close(): Promise<void>
  [Symbol.asyncDispose](): Promise<void>
}

/** Where the transport lives; the page derives its URL from its own origin and this path. */
export const SWITCHYARD_PATH = "/switchyard"

/**
 * Builds the page, starts sampling, starts the HTTP server and attaches Switchyard to it.
 *
 * @example
 * const dashboard = await startDashboardServer({ port: 3000 })
 * console.log(dashboard.url)
 */
export async function startDashboardServer(options: DashboardServerOptions = {}): Promise<DashboardServer> {
  const root = options.root ?? fileURLToPath(new URL("..", import.meta.url))
  const assets = await buildAssets(root)
  const sampler = new Sampler({ intervalMs: options.intervalMs })

  // #region server
  const switchyard = createServer(
    Dashboard,
    {
      streams: {
        // The stream's handler: the kept samples the page has not seen, then each new one. `ctx.signal`
        // aborts when the page stops reading or its session ends; a dropped connection does not abort
        // it (the session waits for a resume, and so does the stream).
        metrics: ({ run, after }, ctx) => sampler.follow(run, after, ctx.signal),
      },
    },
    // Same-origin only (the default allow-list): the page is served by this very server.
    { path: SWITCHYARD_PATH, limits: options.limits ?? {} },
  )
  // #endregion server

  // Every TCP connection, so that the demo's "Drop the connection" can cut them (WebSockets included:
  // an upgraded connection starts as one of these).
  const sockets = new Set<Socket>()
  const dropConnections = (except?: Socket) => {
    let n = 0
    for (const socket of sockets) {
      if (socket === except) continue
      socket.destroy()
      n++
    }
    return n
  }

  const http = createHttpServer((request, response) => serve(request, response, assets, dropConnections))
  http.on("connection", (socket: Socket) => {
    sockets.add(socket)
    socket.once("close", () => sockets.delete(socket))
  })
  switchyard.attach(http)
  const host = options.host ?? "localhost"
  try {
    await new Promise<void>((resolve, reject) => {
      http.once("error", reject)
      http.listen(options.port ?? 0, host, () => {
        http.off("error", reject)
        resolve()
      })
    })
  } catch (error) {
    sampler.close()
    await switchyard.close()
    throw error
  }
  const { port } = http.address() as AddressInfo

  let closing: Promise<void> | undefined
  const close = () =>
    (closing ??= (async () => {
      sampler.close()
      await switchyard.close()
      http.closeAllConnections()
      await new Promise<void>((resolve) => http.close(() => resolve()))
    })())
  return {
    url: pageUrl(host, port),
    port,
    switchyard,
    sampler,
    dropConnections,
    close,
    [Symbol.asyncDispose]: close,
  }
}

interface Asset {
  readonly type: string
  readonly body: Uint8Array
}

/** Reads `index.html` and bundles `src/page.ts` in memory, the workspace packages from their sources. */
async function buildAssets(root: string): Promise<ReadonlyMap<string, Asset>> {
  const [html, bundle] = await Promise.all([
    readFile(join(root, "index.html")),
    build({
      entryPoints: [join(root, "src/page.ts")],
      bundle: true,
      write: false,
      platform: "browser",
      format: "esm",
      target: "es2022",
      minify: true,
      conditions: ["@switchyard/source"],
      logLevel: "silent",
    }),
  ])
  const js = bundle.outputFiles[0]
  if (!js) throw new Error("esbuild produced no page bundle")
  const page: Asset = { type: "text/html; charset=utf-8", body: html }
  return new Map([
    ["/", page],
    ["/index.html", page],
    ["/page.js", { type: "text/javascript; charset=utf-8", body: js.contents }],
  ])
}

function serve(
  request: IncomingMessage,
  response: ServerResponse,
  assets: ReadonlyMap<string, Asset>,
  dropConnections: (except?: Socket) => number,
): void {
  const path = new URL(request.url ?? "/", "http://localhost").pathname
  const method = request.method ?? "GET"
  if (path === "/drop" && method === "POST") {
    // A demo device: cut every other connection (the page's WebSocket among them), then answer on
    // this one and close it. The page's client notices the drop and resumes its session.
    const dropped = dropConnections(request.socket)
    response.writeHead(200, { "content-type": "application/json", connection: "close" })
    response.end(JSON.stringify({ dropped }))
    return
  }
  const asset = assets.get(path)
  if (asset && method !== "GET" && method !== "HEAD") {
    response.writeHead(405, { allow: "GET, HEAD" }).end()
    return
  }
  if (!asset) {
    response.writeHead(404, { "content-type": "text/plain; charset=utf-8" }).end("not found\n")
    return
  }
  response.writeHead(200, {
    "content-type": asset.type,
    "content-length": asset.body.byteLength,
    "cache-control": "no-store",
    "x-content-type-options": "nosniff",
    "content-security-policy": "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:",
  })
  response.end(method === "HEAD" ? undefined : asset.body)
}

function pageUrl(host: string, port: number): string {
  const shown = host === "" || host === "0.0.0.0" || host === "::" ? "localhost" : host
  return `http://${shown.includes(":") ? `[${shown}]` : shown}:${port}/`
}
