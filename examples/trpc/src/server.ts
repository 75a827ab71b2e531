import { readFile } from "node:fs/promises"
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from "node:http"
import type { AddressInfo } from "node:net"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import type { Server } from "@switchyard/server-node"
import { createTrpcServer, type TrpcContract } from "@switchyard/trpc/server"
import { build } from "esbuild"
import { createAppRouter } from "./router.ts"

export interface TodoServerOptions {
  /** Default 0: a free port. */
  readonly port?: number
  /** Default `"localhost"`. */
  readonly host?: string
  /** The example's folder (holds `index.html` and `src/page.ts`); default: the folder above this file. */
  readonly root?: string
}

/** The running app: one HTTP server that serves the page and carries the tRPC router over Switchyard. */
export interface TodoServer {
  /** The page's URL, e.g. `http://localhost:3000/`. */
  readonly url: string
  readonly port: number
  readonly switchyard: Server<TrpcContract>
  close(): Promise<void>
}

/**
 * Builds the page, starts the HTTP server and serves the router on it at `/switchyard`.
 *
 * @example
 * const app = await startTodoServer({ port: 3000 })
 * console.log(app.url)
 */
export async function startTodoServer(options: TodoServerOptions = {}): Promise<TodoServer> {
  const root = options.root ?? fileURLToPath(new URL("..", import.meta.url))
  const assets = await buildAssets(root)

  // #region server
  // Before: createHTTPServer({ router }) or applyWSSHandler({ wss, router }). After: one line.
  const switchyard = createTrpcServer(createAppRouter(), { path: "/switchyard" })

  const http = createHttpServer((request, response) => servePage(request, response, assets))
  switchyard.attach(http) // the page and the router share one port and one origin
  // #endregion server
  const host = options.host ?? "localhost"
  await new Promise<void>((resolve, reject) => {
    http.once("error", reject)
    http.listen(options.port ?? 0, host, () => {
      http.off("error", reject)
      resolve()
    })
  }).catch(async (error) => {
    await switchyard.close()
    throw error
  })
  const { port } = http.address() as AddressInfo

  let closing: Promise<void> | undefined
  const close = () =>
    (closing ??= (async () => {
      await switchyard.close()
      http.closeAllConnections()
      await new Promise<void>((resolve) => http.close(() => resolve()))
    })())
  const shown = host === "0.0.0.0" || host === "::" ? "localhost" : host
  return { url: `http://${shown.includes(":") ? `[${shown}]` : shown}:${port}/`, port, switchyard, close }
}

interface Asset {
  readonly type: string
  readonly body: Uint8Array
}

/** Reads `index.html` and bundles `src/page.ts` in memory, from the workspace packages' TypeScript sources. */
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

function servePage(request: IncomingMessage, response: ServerResponse, assets: ReadonlyMap<string, Asset>): void {
  const asset = assets.get(new URL(request.url ?? "/", "http://localhost").pathname)
  if (!asset || (request.method !== "GET" && request.method !== "HEAD")) {
    response.writeHead(asset ? 405 : 404, { "content-type": "text/plain; charset=utf-8" }).end()
    return
  }
  response.writeHead(200, {
    "content-type": asset.type,
    "content-length": asset.body.byteLength,
    "cache-control": "no-store",
    "content-security-policy": "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:",
  })
  response.end(request.method === "HEAD" ? undefined : asset.body)
}
