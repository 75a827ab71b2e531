import { readFile } from "node:fs/promises"
import { createServer as createHttpServer } from "node:http"
import type { AddressInfo } from "node:net"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { build } from "esbuild"
import { calcServer } from "./server.ts"

export interface AppOptions {
  /** Default 0: a free port. */
  readonly port?: number
  /** Default `"localhost"`. */
  readonly host?: string
  /**
   * The example's folder (holds `index.html` and `src/page.ts`). Defaults to the folder above this file,
   * right when it runs from source; `start.mjs` runs a bundled copy from elsewhere and passes it.
   */
  readonly root?: string
}

/** The running app: one HTTP server for the page and for Switchyard. */
export interface App extends AsyncDisposable {
  /** The page, e.g. `http://localhost:3000/`. */
  readonly url: string
  /** What a client connects to: the page's origin and `/switchyard`. */
  readonly switchyardUrl: string
  close(): Promise<void>
}

/**
 * Bundles the page, then serves it and Switchyard on one port.
 *
 * @example
 * const app = await startApp({ port: 3000 })
 * console.log(`open ${app.url}`)
 */
export async function startApp(options: AppOptions = {}): Promise<App> {
  const root = options.root ?? fileURLToPath(new URL("..", import.meta.url))
  const files = await pageFiles(root)

  // #region attach
  const switchyard = calcServer()
  const http = createHttpServer((request, response) => {
    const file = files.get(new URL(request.url ?? "/", "http://x").pathname)
    if (!file) return void response.writeHead(404).end()
    response.writeHead(200, { "content-type": file.type }).end(file.body)
  })
  // Switchyard answers on `/switchyard` (WebSocket upgrades included); the page is everything else.
  switchyard.attach(http)
  // #endregion attach

  const host = options.host ?? "localhost"
  await new Promise<void>((resolve, reject) => {
    http.once("error", reject)
    http.listen(options.port ?? 0, host, () => resolve())
  }).catch(async (error: unknown) => {
    await switchyard.close()
    throw error
  })
  const { port } = http.address() as AddressInfo
  const shown = host === "0.0.0.0" || host === "::" ? "localhost" : host
  const url = `http://${shown.includes(":") ? `[${shown}]` : shown}:${port}/`

  let closing: Promise<void> | undefined
  const close = () =>
    (closing ??= (async () => {
      await switchyard.close()
      http.closeAllConnections()
      await new Promise<void>((resolve) => http.close(() => resolve()))
    })())
  return { url, switchyardUrl: new URL("switchyard", url).href, close, [Symbol.asyncDispose]: close }
}

/** `index.html`, and `src/page.ts` bundled for the browser by esbuild, in memory. */
async function pageFiles(root: string): Promise<ReadonlyMap<string, { type: string; body: Uint8Array }>> {
  const [html, bundle] = await Promise.all([
    readFile(join(root, "index.html")),
    build({
      entryPoints: [join(root, "src/page.ts")],
      bundle: true,
      write: false,
      format: "esm",
      target: "es2022",
      minify: true,
      // The workspace packages' TypeScript sources: nothing needs building first.
      conditions: ["@switchyard/source"],
      logLevel: "silent",
    }),
  ])
  const script = bundle.outputFiles[0]
  if (!script) throw new Error("esbuild produced no page bundle")
  const page = { type: "text/html; charset=utf-8", body: html }
  return new Map([
    ["/", page],
    ["/index.html", page],
    ["/page.js", { type: "text/javascript; charset=utf-8", body: script.contents }],
  ])
}
