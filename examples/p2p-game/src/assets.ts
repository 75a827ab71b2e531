import { readFile } from "node:fs/promises"
import type { IncomingMessage, ServerResponse } from "node:http"
import { join } from "node:path"
import { build } from "esbuild"

interface Asset {
  readonly type: string
  readonly body: Uint8Array
}

/**
 * Reads `index.html` and bundles `src/page.ts` in memory. The page imports the workspace packages'
 * TypeScript sources through the `@switchyard/source` export condition, so nothing needs building first.
 */
export async function buildAssets(root: string): Promise<ReadonlyMap<string, Asset>> {
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

/** Answers GET and HEAD for the assets, 404 for anything else. */
export function serveAssets(
  request: IncomingMessage,
  response: ServerResponse,
  assets: ReadonlyMap<string, Asset>,
): void {
  const asset = assets.get(new URL(request.url ?? "/", "http://localhost").pathname)
  const method = request.method ?? "GET"
  if (!asset) {
    response.writeHead(404, { "content-type": "text/plain; charset=utf-8" }).end("not found\n")
    return
  }
  if (method !== "GET" && method !== "HEAD") {
    response.writeHead(405, { allow: "GET, HEAD" }).end()
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
