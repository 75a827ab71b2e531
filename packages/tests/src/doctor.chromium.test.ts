import { createServer as createHttpServer } from "node:http"
import type { AddressInfo } from "node:net"
import { join } from "node:path"
import { TestContract, testHandlers } from "@switchyard/core/testing"
import { createServer, type Handlers } from "@switchyard/server-node"
import { webrtcServer } from "@switchyard/webrtc-data/server"
import type { Page } from "playwright-core"
import { beforeAll, describe, it } from "vitest"
import { chromiumBrowser, newPage } from "./support/chromium.ts"
import { Nginx } from "./support/cluster/nginx.ts"
import { doctorLocations } from "./support/doctorProxies.ts"
import { Squid } from "./support/squid.ts"

/**
 * The doctor's page (docs/doctor.md: `mountDoctor` from packages/doctor/src/page.ts, which the docs site's
 * component mounts) in Chromium, on an origin of its own as the docs site is, against a real server:
 * directly, where every transport works (WebRTC included), and behind Debian's nginx refusing the
 * WebSocket upgrade and holding event streams. The page runs on `?url=`, as a link to it would.
 */

/** A test's undo steps, run in reverse when it finishes (the cases run concurrently, each with its own). */
type Cleanup = Array<() => Promise<void>>
function cleanups(onTestFinished: (fn: () => Promise<void>) => void): Cleanup {
  const steps: Cleanup = []
  onTestFinished(async () => {
    for (const fn of steps.reverse()) await fn()
  })
  return steps
}
// The page's bundle and the browser, made at once rather than one after the other.
beforeAll(() => Promise.all([pageScript(), chromiumBrowser()]), 60_000)

let script: Promise<string> | undefined

/**
 * The page's script: page.ts and the real transports, bundled from source, with a short hold. A probe gets
 * 5 s for its first echo, as the doctor's default: with 1.5 s, a page loaded beside a busy CPU saw echoes
 * come too late and reported transports that work as failed. Only a held stream waits it out.
 */
function pageScript(): Promise<string> {
  script ??= import("esbuild").then(async ({ build }) => {
    const page = join(import.meta.dirname, "../../doctor/src/page.ts")
    const result = await build({
      stdin: {
        contents: `import { mountDoctor } from ${JSON.stringify(page)}
mountDoctor(document.getElementById("doctor"), { timeoutMs: 5000, holdMs: 1200 })`,
        resolveDir: import.meta.dirname,
        loader: "ts",
      },
      bundle: true,
      write: false,
      format: "iife",
      platform: "browser",
      target: "chrome120",
      conditions: ["@switchyard/source"],
      logLevel: "silent",
    })
    const text = result.outputFiles[0]?.text
    if (text === undefined) throw new Error("esbuild produced no page bundle")
    return text
  })
  return script
}

/** Serves the page on 127.0.0.1, an origin of its own; its origin. */
async function servePage(cleanup: Cleanup): Promise<string> {
  const js = await pageScript()
  const html = `<!doctype html><meta charset="utf-8"><link rel="icon" href="data:,"><title>doctor</title><div id="doctor"></div><script src="/doctor.js"></script>`
  const http = createHttpServer((request, response) => {
    const page = new URL(request.url ?? "/", "http://x").pathname === "/"
    response.writeHead(page || request.url === "/doctor.js" ? 200 : 404, {
      "content-type": page ? "text/html; charset=utf-8" : "text/javascript; charset=utf-8",
    })
    response.end(page ? html : js)
  })
  await new Promise<void>((resolve) => http.listen(0, "127.0.0.1", resolve))
  cleanup.push(async () => {
    http.closeAllConnections()
    await new Promise((resolve) => http.close(resolve))
  })
  return `http://127.0.0.1:${(http.address() as AddressInfo).port}`
}

/** A Switchyard server that lets the page's origin in (as a server lets its docs site's doctor in). */
async function switchyard(cleanup: Cleanup, origin: string | undefined, options: { webrtc?: boolean } = {}) {
  const server = createServer(TestContract, testHandlers({ aborted: new Set() }) as unknown as Handlers<TestContract>, {
    onError: () => {},
    ...(origin === undefined ? {} : { allowedOrigins: [origin] }),
    ...(options.webrtc ? { webrtc: webrtcServer() } : {}),
  })
  cleanup.push(() => server.close())
  return (await server.listen(0, "127.0.0.1")).port
}

/**
 * Opens the page on `url` and reads its report once it is shown; console errors and uncaught ones too.
 * With `proxy`, the browser goes through it for everything (loopback included), the page itself too.
 */
async function report(cleanup: Cleanup, origin: string, url: string, proxy?: string) {
  let page: Page
  if (proxy === undefined) page = await newPage()
  else {
    const context = await (await chromiumBrowser()).newContext({ proxy: { server: proxy } })
    cleanup.push(() => context.close())
    page = await context.newPage()
  }
  cleanup.push(() => page.close())
  const errors: string[] = []
  page.on("console", (message) => message.type() === "error" && errors.push(message.text()))
  page.on("pageerror", (error) => errors.push(`uncaught: ${error.message}`))
  await page.goto(`${origin}/?url=${encodeURIComponent(url)}`)
  await page.waitForSelector(".sy-doctor[data-ends-on]", { timeout: 20_000 })
  const status = await page.textContent(".sy-doctor-status")
  const shown = await page.evaluate(() => ({
    endsOn: document.querySelector<HTMLElement>(".sy-doctor")?.dataset.endsOn,
    rows: [...document.querySelectorAll<HTMLElement>(".sy-doctor-table tbody tr")].map((tr) => ({
      id: tr.dataset.transport,
      verdict: tr.dataset.verdict,
      cells: [...tr.querySelectorAll("td")].map((td) => td.textContent ?? ""),
    })),
    bars: [...document.querySelectorAll(".sy-doctor-chart rect")].map((r) => r.getAttribute("data-transport")),
    findings: [...document.querySelectorAll<HTMLElement>("[data-finding]")].map((li) => ({
      kind: li.dataset.finding,
      text: li.textContent,
      fix: li.querySelector("a")?.getAttribute("href"),
    })),
    verdict: document.querySelector(".sy-doctor-verdict")?.textContent,
  }))
  return { ...shown, errors, page, status }
}

const verdicts = (rows: ReadonlyArray<{ id?: string | undefined; verdict?: string | undefined }>) =>
  Object.fromEntries(rows.map((row) => [row.id, row.verdict]))

// Concurrently: each case mostly waits (for its probes' timeouts and holds), on pages of one browser.
describe.concurrent("the doctor's page in Chromium", () => {
  it("straight to a server offering WebRTC: every transport works, WebRTC included, with round trips in the table and the chart", async ({
    expect,
    onTestFinished,
  }) => {
    const cleanup = cleanups(onTestFinished)
    const origin = await servePage(cleanup)
    const port = await switchyard(cleanup, origin, { webrtc: true })
    const shown = await report(cleanup, origin, `http://127.0.0.1:${port}/switchyard`)
    expect(verdicts(shown.rows)).toEqual({
      websocket: "works",
      sse: "works",
      "long-polling": "works",
      polling: "works",
      webrtc: "works",
    })
    expect(shown.findings).toEqual([])
    expect(shown.endsOn).toBe("websocket")
    expect(shown.verdict).toBe(
      "A client here that negotiates ends on websocket. Given webrtcTransport(), it moves on to WebRTC.",
    )
    expect(shown.bars.sort()).toEqual(["long-polling", "polling", "sse", "websocket"])
    for (const row of shown.rows.filter((r) => r.id !== "webrtc")) expect(row.cells[3]).toMatch(/^\d+ ms$/)
    // WebRTC: the time to a session on the data channel; its probes are the client's own.
    expect(shown.rows.find((r) => r.id === "webrtc")?.cells[2]).toMatch(/^\d+ ms$/)
    // The browser logs the 410 that ends an HTTP link (docs/protocol.md#requests): the long-polling link
    // the WebRTC probe's session left. Nothing else.
    expect(shown.errors.filter((e) => !/status of 410 \(Gone\)/.test(e))).toEqual([])
    console.log(`[doctor page] direct: ${shown.rows.map((r) => `${r.id} ${r.cells[2]} / ${r.cells[3]}`).join(", ")}`)
  })

  it("behind nginx refusing the upgrade and holding event streams: WebSocket refused, SSE held, long polling works with a round trip", async ({
    expect,
    onTestFinished,
  }) => {
    const cleanup = cleanups(onTestFinished)
    const origin = await servePage(cleanup)
    const port = await switchyard(cleanup, origin)
    const nginx = await Nginx.start([port], doctorLocations.refusedAndBuffered)
    cleanup.push(() => nginx[Symbol.asyncDispose]())
    const shown = await report(cleanup, origin, `${nginx.url}/switchyard`)
    expect(verdicts(shown.rows)).toEqual({
      websocket: "refused",
      sse: "held",
      "long-polling": "works",
      polling: "works",
      webrtc: "not offered",
    })
    expect(shown.findings.map((f) => [f.kind, f.fix])).toEqual([
      ["websocket-refused", "#websocket-upgrade-refused"],
      ["stream-held", "#event-stream-held"],
    ])
    const longPolling = shown.rows.find((r) => r.id === "long-polling")
    expect(longPolling?.cells[3]).toMatch(/^\d+ ms$/)
    expect(shown.bars).toContain("long-polling")
    expect(shown.bars).not.toContain("websocket")
    expect(shown.verdict).toBe("A client here that negotiates ends on long-polling.")
    // The browser itself logs the refused handshake (its script is told nothing of the status): that and nothing else.
    expect(shown.errors).toHaveLength(1)
    expect(shown.errors[0]).toMatch(/WebSocket connection to 'ws:\/\/127\.0\.0\.1:\d+\/switchyard' failed.*426/)
    if (process.env.SWITCHYARD_SCREENSHOTS === "1") {
      await shown.page.setViewportSize({ width: 900, height: 600 })
      await shown.page.screenshot({ path: join(import.meta.dirname, "../../../docs/screenshots/doctor.png") })
    }
    console.log(`[doctor page] nginx: ${shown.rows.map((r) => `${r.id} ${r.verdict} ${r.cells[3]}`).join(", ")}`)
  })

  it("through squid refusing CONNECT tunnels, as the browser's proxy: WebSocket refused, SSE works and is where a client ends", async ({
    expect,
    onTestFinished,
  }) => {
    const cleanup = cleanups(onTestFinished)
    const origin = await servePage(cleanup)
    const port = await switchyard(cleanup, origin)
    const squid = await Squid.start({ tunnels: false })
    cleanup.push(() => squid[Symbol.asyncDispose]())
    const shown = await report(cleanup, origin, `http://127.0.0.1:${port}/switchyard`, squid.url)
    expect(verdicts(shown.rows)).toEqual({
      websocket: "refused",
      sse: "works",
      "long-polling": "works",
      polling: "works",
      webrtc: "not offered",
    })
    expect(shown.findings.map((f) => f.kind)).toEqual(["websocket-refused"])
    expect(shown.endsOn).toBe("sse")
    // Chromium tunnels a ws: URL through the proxy with CONNECT, which squid refuses (docs/proxies.md).
    expect(shown.errors).toHaveLength(1)
    expect(shown.errors[0]).toMatch(/WebSocket connection to 'ws:\/\/127\.0\.0\.1:\d+\/switchyard' failed/)
    // The page and the doctor's requests went through squid, as absolute-URI requests.
    const requests = await squid.requests((r) =>
      r.some((line) => line.includes("?negotiate") || line.endsWith("/switchyard?")),
    )
    expect(requests).toContain(`GET http://127.0.0.1:${port}/switchyard?`)
    console.log(`[doctor page] squid: ${shown.rows.map((r) => `${r.id} ${r.verdict} ${r.cells[3]}`).join(", ")}`)
  })

  it("against a server that keeps its default Origin check: the page says it may be refused, and how to fix it", async ({
    expect,
    onTestFinished,
  }) => {
    const cleanup = cleanups(onTestFinished)
    const origin = await servePage(cleanup)
    const port = await switchyard(cleanup, undefined)
    const shown = await report(cleanup, origin, `http://127.0.0.1:${port}/switchyard`)
    expect(shown.endsOn).toBe("none")
    expect(shown.rows).toEqual([])
    expect(shown.verdict).toContain("No transport works from here")
    expect(shown.findings).toHaveLength(1)
    expect(shown.findings[0]?.kind).toBe("server-not-reached")
    expect(shown.findings[0]?.text).toContain(`it may refuse this page's origin (${origin})`)
    // The browser logs the refused request (a 403 without CORS headers); the page's script sees a network error.
    expect(shown.errors.length).toBeGreaterThan(0)
    expect(shown.errors.every((e) => /CORS|403|Failed to load resource/.test(e))).toBe(true)
  })
})
