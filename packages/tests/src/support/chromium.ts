import { readdirSync, readFileSync } from "node:fs"
import { createServer, type Server as HttpServer } from "node:http"
import type { AddressInfo } from "node:net"
import { fileURLToPath } from "node:url"
import type { Browser, BrowserContext, Page } from "playwright-core"
import { afterAll, expect } from "vitest"
import { RemotePage } from "./remoteClient.ts"

// esbuild and playwright-core are imported on first use: every test file that imports the harnesses
// loads this module, and only the Chromium one should pay for them.

let bundle: Promise<string> | undefined

/** The page's script: pageClient.ts and the real client, bundled from source once per test run. */
export function pageBundle(): Promise<string> {
  bundle ??= import("esbuild").then(async ({ build }) => {
    const result = await build({
      entryPoints: [fileURLToPath(new URL("./pageClient.ts", import.meta.url))],
      bundle: true,
      write: false,
      format: "iife",
      platform: "browser",
      target: "chrome120",
      conditions: ["@switchyard/source"],
      // `@switchyard/core/testing` also exports the suite, which imports vitest; the page uses only the
      // contract, and core is free of side effects, so the suite (and vitest) are shaken out.
      external: ["vitest"],
      logLevel: "silent",
    })
    const text = result.outputFiles[0]?.text
    if (text === undefined) throw new Error("esbuild produced no page bundle")
    if (/require\(["']vitest["']\)/.test(text)) throw new Error("the page bundle still needs vitest")
    return text
  })
  return bundle
}

interface Launched {
  readonly browser: Browser
  /** The browser's process group (Playwright makes the browser a group leader), where /proc tells. */
  readonly group: number | undefined
}

/** Debian's Chromium, or the one `CHROMIUM_PATH` names (scripts/system-packages.mjs installs Debian's). */
export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium"

/**
 * The flags every test Chromium runs with: headless, no sandbox (root), and nothing that reaches the
 * network on its own (scripts/chromium-flags.json, which scripts/size.mjs uses too); for WebRTC, real
 * host candidates instead of mDNS names.
 */
export const CHROMIUM_FLAGS: readonly string[] = [
  ...(JSON.parse(
    readFileSync(new URL("../../../../scripts/chromium-flags.json", import.meta.url), "utf8"),
  ) as string[]),
  "--disable-features=WebRtcHideLocalIpsWithMdns",
]

let launched: Promise<Launched> | undefined
let context: Promise<BrowserContext> | undefined

/**
 * The test file's Chromium: Debian's, launched on first use and closed after the file's last test.
 * Playwright refuses `--user-data-dir` in `args` for `launch()`; it creates a fresh temporary profile
 * itself (`playwright_chromiumdev_profile-*`) and deletes it on close, which is what we want.
 */
export async function chromiumBrowser(): Promise<Browser> {
  launched ??= import("playwright-core").then(async ({ chromium }) => {
    const browser = await chromium.launch({
      executablePath: CHROMIUM_PATH,
      headless: true,
      // WebRTC to a peer on this host: loopback allowed too.
      args: [...CHROMIUM_FLAGS, "--allow-loopback-in-peer-connection"],
    })
    return { browser, group: childNamed("chromium") }
  })
  return (await launched).browser
}

afterAll(async () => {
  const current = await launched?.catch(() => undefined)
  launched = undefined
  context = undefined
  idle = []
  if (!current) return
  await current.browser.close()
  // The browser exits before some of its children (GPU, utility, zygote processes); they are
  // reparented to PID 1 and linger until it reaps them. Wait for the whole group, so that nothing
  // named chromium outlives the test file.
  if (current.group !== undefined) await groupGone(current.group, 5000)
})

/** The pid of this process's child with that command name (Linux), if there is exactly one. */
function childNamed(name: string): number | undefined {
  const found: number[] = []
  try {
    for (const entry of readdirSync("/proc")) {
      if (!/^\d+$/.test(entry)) continue
      let stat: string
      try {
        stat = readFileSync(`/proc/${entry}/stat`, "utf8")
      } catch {
        continue
      }
      // "pid (comm) state ppid …"; comm may hold spaces and parentheses, so split at the last ")".
      const end = stat.lastIndexOf(")")
      const comm = stat.slice(stat.indexOf("(") + 1, end)
      const ppid = Number(stat.slice(end + 2).split(" ")[1])
      if (ppid === process.pid && comm === name) found.push(Number(entry))
    }
  } catch {
    return undefined
  }
  return found.length === 1 ? found[0] : undefined
}

/** Waits until no process of the group exists; past the deadline, kills what is left. */
async function groupGone(group: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs
  const alive = () => {
    try {
      process.kill(-group, 0)
      return true
    } catch {
      return false
    }
  }
  while (alive()) {
    if (Date.now() > deadline) {
      try {
        process.kill(-group, "SIGKILL")
      } catch {
        // gone meanwhile
      }
      return
    }
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

/**
 * A new page. Pages share one browser context per test file (a context costs a renderer start); each
 * fixture serves its page from an origin of its own, so nothing a page keeps is visible to the next.
 */
export async function newPage(): Promise<Page> {
  context ??= chromiumBrowser().then((b) => b.newContext())
  return (await context).newPage()
}

/** Pages given back blank by fixtures of this file, for the next fixture to borrow. */
let idle: Page[] = []

/**
 * A page from the file's pool of blank pages, else a new one. A fixture that opens a page per test (the
 * contract suites' harnesses) borrows one instead: a new page costs a renderer start, measured at ~270 ms
 * here, and its first load takes twice as long as a reused page's (~250 ms against ~130 ms). Only for a
 * page whose every use is the borrower's own (no routes, init scripts or listeners that would outlive it):
 * a page keeps those across navigations. {@link RemotePage.open} with `pooled` reuses the page's binding.
 */
export async function borrowPage(): Promise<Page> {
  for (let page = idle.pop(); page !== undefined; page = idle.pop()) if (!page.isClosed()) return page
  return newPage()
}

/**
 * Gives a borrowed page back once it is blank: `about:blank` ends the realm the borrower loaded, with its
 * clients, connections and timers (the back-forward cache, which could keep it, is off in Playwright's
 * Chromium). A page that cannot go blank is closed instead.
 */
export async function givePageBack(page: Page): Promise<void> {
  try {
    await page.goto("about:blank", { timeout: 5000 })
    idle.push(page)
  } catch {
    await page.close().catch(() => {})
  }
}

/** The test page: it loads the bundle from `/client.js`. */
export const pageHtml =
  '<!doctype html><meta charset="utf-8"><link rel="icon" href="data:,"><title>switchyard</title><script src="/client.js"></script>'

/** A throwaway HTTP server on 127.0.0.1 that serves the page at `/` and its bundle at `/client.js`. */
export interface PageServer extends AsyncDisposable {
  readonly http: HttpServer
  readonly port: number
}

export async function startPageServer(): Promise<PageServer> {
  const script = await pageBundle()
  const html = pageHtml
  const http = createServer((request, response) => {
    const [type, body] =
      request.url === "/"
        ? ["text/html", html]
        : request.url === "/client.js"
          ? ["text/javascript", script]
          : [undefined, "not found"]
    response.writeHead(type ? 200 : 404, {
      "content-type": `${type ?? "text/plain"}; charset=utf-8`,
      "cache-control": "no-store",
    })
    response.end(body)
  })
  await new Promise<void>((resolve, reject) => {
    http.once("error", reject)
    http.listen(0, "127.0.0.1", resolve)
  })
  return {
    http,
    port: (http.address() as AddressInfo).port,
    async [Symbol.asyncDispose]() {
      http.closeAllConnections()
      await new Promise<void>((resolve) => http.close(() => resolve()))
    },
  }
}

/** Where a test keeps the steps that undo its setup, run in reverse after it. */
export interface Cleanups {
  push(step: () => Promise<void>): unknown
}

/** Serves the page with `server` attached (its requests and WebSocket on the page's origin) until cleanup. */
export async function servePage(
  server: { attach(http: HttpServer): unknown },
  cleanup: Cleanups,
): Promise<{ readonly origin: string; readonly port: number }> {
  const site = await startPageServer()
  cleanup.push(async () => await site[Symbol.asyncDispose]())
  server.attach(site.http)
  return { origin: `http://127.0.0.1:${site.port}`, port: site.port }
}

/**
 * The page at `url`, driven from Node. At cleanup it is closed, and the test fails if the harness saw a
 * defect in it. Without `page`, a new one from the shared context, closed at cleanup too.
 */
export async function checkedPage(url: string, cleanup: Cleanups, page?: Page): Promise<RemotePage> {
  const opened = page ?? (await newPage())
  if (!page) cleanup.push(() => opened.close())
  const remote = await RemotePage.open(opened, url)
  cleanup.push(async () => {
    await remote.close()
    expect(remote.defects).toEqual([])
  })
  return remote
}
