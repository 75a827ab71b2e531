import { readFileSync } from "node:fs"
import { control, FrameType, httpBodyCap, PROTOCOL_VERSION } from "@switchyard/core"
import { runTransportContractSuite, TestContract, testHandlers, waitFor } from "@switchyard/core/testing"
import { behindNginx } from "@switchyard/example-nginx/server"
import { createServer, defaultLimits, type Handlers, type ServerOptions } from "@switchyard/server-node"
import { afterEach, describe, expect, it } from "vitest"
import WebSocket from "ws"
import { nodeHarness } from "./support/harnesses.ts"
import { nginxSiteFront, publicOrigin, siteTemplatePath, startSite } from "./support/nginxSite.ts"

// docs/tutorial-nginx.md, end to end: Debian's nginx with examples/nginx/switchyard.conf (only its two
// placeholders filled in) in front of a server with the example's options. The transport contract suite
// runs through it on WebSocket, SSE and long polling, with Node clients behind a TCP proxy that cuts or
// stalls their network; then what the config promises: the client's own address reaches the server, the
// origin list holds, and the largest body the server takes passes nginx.

runTransportContractSuite("websocket (behind nginx, examples/nginx)", nodeHarness("websocket", {}, nginxSiteFront))
runTransportContractSuite("sse (behind nginx, examples/nginx)", nodeHarness("sse", {}, nginxSiteFront))
runTransportContractSuite(
  "long-polling (behind nginx, examples/nginx)",
  nodeHarness("long-polling", {}, nginxSiteFront),
)

const cleanup: Array<() => Promise<void>> = []
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step()
})

/** A Switchyard server with the given options behind the site's nginx; the URL clients use. */
async function site(options: ServerOptions): Promise<string> {
  const server = createServer(TestContract, testHandlers({ aborted: new Set() }) as unknown as Handlers<TestContract>, {
    onError: () => {},
    ...options,
  })
  const { port } = await server.listen(0, "127.0.0.1")
  cleanup.push(() => server.close())
  const nginx = await startSite(port)
  cleanup.push(() => nginx[Symbol.asyncDispose]())
  return `${nginx.url}/switchyard`
}

/**
 * A raw WebSocket from the loopback address `from` through nginx that sends HELLO: `"welcomed"`, or the
 * code of the BYE that refused it.
 */
async function hello(url: string, from: string, headers: Record<string, string> = {}): Promise<string> {
  const socket = new WebSocket(url.replace(/^http/, "ws"), { localAddress: from, headers })
  cleanup.push(async () => socket.terminate())
  const frames: unknown[][] = []
  socket.on("message", (data) => frames.push(JSON.parse(String(data)) as unknown[]))
  await new Promise((resolve, reject) => socket.once("open", resolve).once("error", reject))
  socket.send(control.hello(PROTOCOL_VERSION, null, 0))
  const answer = () => frames.find((f) => f[0] === FrameType.WELCOME || f[0] === FrameType.BYE)
  await waitFor(() => answer() !== undefined, 3000, `WELCOME or BYE for ${from}`)
  const [type, code] = answer() as unknown[]
  return type === FrameType.WELCOME ? "welcomed" : String(code)
}

/** The HTTP status of a WebSocket upgrade through nginx with `origin`: 101 when it opened. */
async function upgradeStatus(url: string, origin: string): Promise<number> {
  const socket = new WebSocket(url.replace(/^http/, "ws"), { origin })
  cleanup.push(async () => socket.terminate())
  return new Promise((resolve, reject) => {
    socket.once("open", () => resolve(101))
    socket.once("unexpected-response", (_request, response) => resolve(response.statusCode ?? 0))
    socket.once("error", reject)
  })
}

describe("the site file against the server's defaults", () => {
  const config = readFileSync(siteTemplatePath, "utf8")
  const directive = (name: string) => new RegExp(`^\\s*${name}\\s+(\\d+)([km]|s)?;`, "m").exec(config)

  it("lets bodies through up to the server's own cap, and holds a connection longer than the server is silent", () => {
    const [, size, unit] = directive("client_max_body_size") ?? []
    expect(unit).toBe("k")
    expect(Number(size) * 1024).toBe(httpBodyCap(defaultLimits.maxMessageBytes))
    const [, seconds, s] = directive("proxy_read_timeout") ?? []
    expect(s).toBe("s")
    // The longest silences: a held long poll, an idle event stream, a WebSocket between PINGs.
    for (const silence of [
      defaultLimits.pollTimeoutMs,
      defaultLimits.sseKeepAliveMs,
      defaultLimits.heartbeatIntervalMs,
    ]) {
      expect(Number(seconds) * 1000).toBeGreaterThan(silence)
    }
  })
})

describe("behind the site's nginx", () => {
  // One session per client address, refused at once: who the server thinks each client is shows.
  const onePerAddress = { maxSessionsPerIp: 1, refusalDelayMs: 0 }

  it("counts each client under its own address (X-Forwarded-For from a trusted proxy), not nginx's", async () => {
    const url = await site({ ...behindNginx(publicOrigin), limits: onePerAddress })
    expect(await hello(url, "127.0.0.7")).toBe("welcomed")
    expect(await hello(url, "127.0.0.8")).toBe("welcomed")
    expect(await hello(url, "127.0.0.7")).toBe("TOO_MANY_SESSIONS")
    // nginx appends the address it saw; what the client wrote before it is not believed.
    expect(await hello(url, "127.0.0.8", { "x-forwarded-for": "127.0.0.9" })).toBe("TOO_MANY_SESSIONS")
  })

  it("counts every client as nginx without trustedProxies (what the option fixes)", async () => {
    const url = await site({ limits: onePerAddress })
    expect(await hello(url, "127.0.0.7")).toBe("welcomed")
    expect(await hello(url, "127.0.0.8")).toBe("TOO_MANY_SESSIONS")
  })

  it("admits the listed origin and refuses any other, on the upgrade and over HTTP", async () => {
    const url = await site(behindNginx(publicOrigin))
    expect(await upgradeStatus(url, publicOrigin)).toBe(101)
    expect(await upgradeStatus(url, "https://evil.example")).toBe(403)
    const offer = (origin: string) => fetch(`${url}?negotiate=1`, { headers: { origin } }).then((r) => r.status)
    expect(await offer(publicOrigin)).toBe(200)
    expect(await offer("https://evil.example")).toBe(403)
  })

  it("passes a body of the server's largest size to the server, past nginx's default 1m", async () => {
    const url = await site(behindNginx(publicOrigin))
    const cap = httpBodyCap(defaultLimits.maxMessageBytes)
    const helloFrame = control.hello(PROTOCOL_VERSION, null, 0)
    // A batch may hold empty lines; these make it exactly as large as the server takes.
    const open = (size: number) =>
      fetch(`${url}?transport=long-polling`, { method: "POST", body: helloFrame.padEnd(size, "\n") })
    const largest = await open(cap)
    expect(largest.status).toBe(200)
    const { link } = (await largest.json()) as { link: string }
    expect(link).toMatch(/^[\w-]{22}$/)
    // Closed at once, so that the server does not keep its link open through a graceful close.
    expect((await fetch(`${url}?link=${link}`, { method: "DELETE" })).status).toBe(204)
    expect((await open(cap + 1)).status).toBe(413)
  })
})
