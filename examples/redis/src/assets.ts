import { readFile } from "node:fs/promises"
import type { IncomingMessage, ServerResponse } from "node:http"
import { join } from "node:path"
import { build } from "esbuild"

/** The page's files by path, built once and served by every node. */
export type Assets = ReadonlyMap<string, { readonly type: string; readonly body: Uint8Array }>

/**
 * Reads `index.html` and bundles `src/page.ts` in memory, from the workspace packages' TypeScript
 * sources (the `@switchyard/source` condition), so nothing needs building first.
 */
export async function buildAssets(root: string): Promise<Assets> {
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
  const page = { type: "text/html; charset=utf-8", body: html }
  return new Map([
    ["/", page],
    ["/index.html", page],
    ["/page.js", { type: "text/javascript; charset=utf-8", body: js.contents }],
  ])
}

/** Answers a GET of one of `assets`; false when the path is none of them. */
export function serveAsset(request: IncomingMessage, response: ServerResponse, assets: Assets): boolean {
  const asset = assets.get(new URL(request.url ?? "/", "http://localhost").pathname)
  if (!asset || (request.method !== "GET" && request.method !== "HEAD")) return false
  response.writeHead(200, {
    "content-type": asset.type,
    "content-length": asset.body.byteLength,
    "cache-control": "no-store",
    "content-security-policy": "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:",
  })
  response.end(request.method === "HEAD" ? undefined : asset.body)
  return true
}
