import { execFile } from "node:child_process"
import { existsSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs"
import { createServer, type Server } from "node:http"
import type { AddressInfo } from "node:net"
import { extname, join } from "node:path"
import { promisify } from "node:util"
import { generate } from "@switchyard/api-reference"
import { afterAll, beforeAll, expect, it } from "vitest"
import { newPage } from "./support/chromium.ts"

// The docs site (docs/site.md): built once as `pnpm docs:build` builds it (the API reference generated
// into docs/api/, then VitePress), served as static files on 127.0.0.1, every page of docs/ opened in
// Chromium. A link to a missing page or a missing #anchor, a page missing from the build, a request the
// site makes that fails, or an error in the console fails the test. The API reference (generated, one page
// per entry point) is opened the same way.

const root = join(import.meta.dirname, "../../..")
const out = join(root, "packages/tests/.tmp/docs-site")
const types: Record<string, string> = {
  ".html": "text/html",
  ".js": "text/javascript",
  ".css": "text/css",
  ".json": "application/json",
  ".svg": "image/svg+xml",
  ".woff2": "font/woff2",
}

/** The file a static host serves for a URL path: the file, `x.html` for `/x`, `index.html` for a folder. */
function fileFor(pathname: string): string | undefined {
  const path = join(out, decodeURIComponent(pathname))
  if (!path.startsWith(out)) return undefined
  for (const candidate of [path, `${path}.html`, join(path, "index.html")]) {
    if (existsSync(candidate) && statSync(candidate).isFile()) return candidate
  }
  return undefined
}

/** Pages that mount a component once hydrated, and what it shows when it has. */
const mounts: Record<string, string> = { "/doctor.html": ".sy-doctor-form input[type=url]" }

let http: Server | undefined
let origin: string
let buildMs: number
let referenceMs: number

beforeAll(async () => {
  rmSync(out, { recursive: true, force: true })
  referenceMs = (await generate()).ms
  const started = performance.now()
  await promisify(execFile)(join(root, "node_modules/.bin/vitepress"), ["build", "docs", "--outDir", out], {
    cwd: root,
  }).catch((error: { stdout?: string; stderr?: string }) => {
    throw new Error(`the docs site does not build:\n${error.stdout ?? ""}${error.stderr ?? ""}`)
  })
  buildMs = performance.now() - started
  const server = createServer((request, response) => {
    const file = fileFor(new URL(request.url ?? "/", "http://x").pathname)
    const status = file === undefined ? 404 : 200
    const body = readFileSync(file ?? join(out, "404.html"))
    response.writeHead(status, { "content-type": `${types[extname(file ?? ".html")] ?? "application/octet-stream"}` })
    response.end(body)
  })
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject)
    server.listen(0, "127.0.0.1", resolve)
  })
  http = server
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
}, 120_000)

afterAll(async () => {
  const server = http
  if (server === undefined) return
  server.closeAllConnections()
  await new Promise((resolve) => server.close(resolve))
})

it("every page of docs/ is built, opens in Chromium without a console error, and links only to pages and anchors that exist", async () => {
  const pages = [
    ...readdirSync(join(root, "docs"))
      .filter((f) => f.endsWith(".md"))
      .map((f) => `/${f.slice(0, -3)}.html`),
    // The API reference: its index and the page of each entry point.
    ...readdirSync(join(root, "docs/api"), { recursive: true, encoding: "utf8" })
      .filter((f) => f.endsWith(".md"))
      .map((f) => `/api/${f.slice(0, -3)}.html`),
  ]
  const missing = pages.filter((p) => fileFor(p) === undefined)
  expect(missing, "pages of docs/ missing from the build").toEqual([])

  const page = await newPage()
  const problems: string[] = []
  let current = ""
  page.on("console", (message) => {
    if (message.type() === "error") problems.push(`${current}: console error: ${message.text()}`)
  })
  page.on("pageerror", (error) => problems.push(`${current}: uncaught: ${error.message}`))
  page.on("response", (response) => {
    if (response.status() >= 400) problems.push(`${current}: ${response.status()} for ${response.url()}`)
  })

  /** The ids of each page, and each same-origin link with the page it is on. */
  const ids = new Map<string, Set<string>>()
  const links: Array<{ readonly on: string; readonly href: string }> = []
  const started = performance.now()
  for (const path of pages) {
    current = path
    const response = await page.goto(`${origin}${path}`, { waitUntil: "load" })
    expect(response?.status(), path).toBe(200)
    // Hydrated: the theme's script has run (an error in it is reported above), and the page has its title.
    await page.waitForSelector("#app .VPContent")
    // A page with a component of its own: mounted too (an error in it would come after the theme's).
    const mounted = mounts[path]
    if (mounted !== undefined) await page.waitForSelector(mounted, { timeout: 10_000 })
    const found = await page.evaluate(() => ({
      ids: [...document.querySelectorAll("[id]")].map((e) => e.id),
      hrefs: [...document.querySelectorAll("a[href]")].map((a) => (a as HTMLAnchorElement).href),
    }))
    ids.set(path, new Set(found.ids))
    for (const href of found.hrefs) if (href.startsWith(origin)) links.push({ on: path, href })
  }
  const visitMs = performance.now() - started
  await page.close()

  const files = new Map<string, string | undefined>()
  for (const { on, href } of links) {
    const url = new URL(href)
    if (!files.has(url.pathname)) files.set(url.pathname, fileFor(url.pathname))
    const file = files.get(url.pathname)
    if (file === undefined) {
      problems.push(`${on}: link to a missing page ${url.pathname}`)
      continue
    }
    if (url.hash === "" || !file.endsWith(".html")) continue
    const target = `/${file.slice(out.length + 1)}`
    const targetIds = ids.get(target)
    if (targetIds === undefined) {
      problems.push(`${on}: link to ${target}, a page neither in docs/ nor in the API reference`)
      continue
    }
    const anchor = decodeURIComponent(url.hash.slice(1))
    if (!targetIds.has(anchor)) problems.push(`${on}: link to a missing anchor ${target}#${anchor}`)
  }
  console.log(
    `docs site: ${pages.length} pages, ${links.length} links checked; ` +
      `API reference generated in ${(referenceMs / 1000).toFixed(1)} s, ` +
      `build ${(buildMs / 1000).toFixed(1)} s, pages opened in ${(visitMs / 1000).toFixed(1)} s`,
  )
  expect(problems).toEqual([])
  // The check can fail: the site has links between pages, and to anchors in them.
  expect(links.some((l) => new URL(l.href).hash !== "")).toBe(true)
  // The reference is there, and its pages link to each other.
  expect(links.some((l) => l.on.startsWith("/api/@switchyard/") && new URL(l.href).pathname.startsWith("/api/@"))).toBe(
    true,
  )
}, 120_000)
