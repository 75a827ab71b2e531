// The tRPC parity harness in Chromium: the app's server (createTrpcServer) attached to a page server on
// 127.0.0.1, and a page running a real tRPC client with switchyardLink (trpcPage.ts). The Node side is a
// tRPC client too, whose terminating link hands each operation to the page and the page's results back,
// so that the parity assertions (trpcParity.ts) run unchanged on what the browser's client received.
import { createServer } from "node:http"
import type { AddressInfo } from "node:net"
import { fileURLToPath } from "node:url"
import { createTrpcServer } from "@switchyard/trpc/server"
import { createTRPCClient, TRPCClientError, type TRPCLink } from "@trpc/client"
import { observable } from "@trpc/server/observable"
import type { Page } from "playwright-core"
import superjson from "superjson"
import { borrowPage, givePageBack } from "./chromium.ts"
import { type AppHarness, type AppRouter, createAppRouter, type ServerLog } from "./trpcApp.ts"
import type { PageResult, TrpcPageDriver } from "./trpcPage.ts"

let bundle: Promise<string> | undefined

/** trpcPage.ts with the real client, tRPC and superjson, bundled from source once per test run. */
function trpcPageBundle(): Promise<string> {
  bundle ??= import("esbuild").then(async ({ build }) => {
    const result = await build({
      entryPoints: [fileURLToPath(new URL("./trpcPage.ts", import.meta.url))],
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
  return bundle
}

type PageWindow = { trpcPage: TrpcPageDriver }

/** The error the page's client got, rebuilt from its message, shape and cause. */
function rebuilt(result: Extract<PageResult, { kind: "error" }>): TRPCClientError<AppRouter> {
  const cause = result.cause && Object.assign(new Error(result.cause.name), result.cause)
  return new TRPCClientError<AppRouter>(result.message, {
    ...(result.shape !== undefined && { result: { error: superjson.parse(result.shape) as never } }),
    ...(cause && { cause }),
  })
}

/**
 * Each borrowed page with the `trpcPush` binding (exposed once for the page's life: it outlives navigations),
 * and the listeners of the harness that loaded it last (none between two).
 */
const routes = new WeakMap<Page, Map<number, (result: PageResult) => void> | undefined>()

/** switchyardLink on `transport` in Chromium, its results checked in Node; its page is borrowed from the file's pool. */
export function chromiumHarness(transport: "websocket" | "long-polling"): AppHarness {
  return {
    name: `switchyardLink over ${transport} in Chromium`,
    async start(token) {
      const log: ServerLog = { events: [] }
      const server = createTrpcServer(createAppRouter(log), {
        authenticate: (request) => new URL(request.url ?? "/", "http://x").searchParams.get("token") ?? undefined,
        createContext: ({ auth }) => ({ user: auth }),
        onError: () => {},
      })
      const script = await trpcPageBundle()
      const site = createServer((request, response) => {
        const [type, body] =
          request.url === "/"
            ? [
                "text/html",
                '<!doctype html><meta charset="utf-8"><link rel="icon" href="data:,"><script src="/client.js"></script>',
              ]
            : request.url === "/client.js"
              ? ["text/javascript", script]
              : [undefined, "not found"]
        response.writeHead(type ? 200 : 404, { "content-type": `${type ?? "text/plain"}; charset=utf-8` })
        response.end(body)
      })
      server.attach(site)
      await new Promise<void>((resolve) => site.listen(0, "127.0.0.1", resolve))
      const origin = `http://127.0.0.1:${(site.address() as AddressInfo).port}`
      const page = await borrowPage()
      const listeners = new Map<number, (result: PageResult) => void>()
      if (!routes.has(page)) {
        routes.set(page, undefined)
        await page.exposeFunction("trpcPush", (id: number, result: PageResult) => routes.get(page)?.get(id)?.(result))
      }
      await page.goto(`${origin}/`)
      // Once loaded: the page pushes only in answer to operations, which start after this.
      routes.set(page, listeners)
      await page.evaluate(([url, t, k]) => (globalThis as unknown as PageWindow).trpcPage.start(url, t, k), [
        `${origin}/switchyard`,
        transport,
        token,
      ] as const)
      let next = 0
      const pageLink: TRPCLink<AppRouter> =
        () =>
        ({ op }) =>
          observable((observer) => {
            const id = ++next
            listeners.set(id, (result) => {
              if (result.kind === "started") observer.next({ result: { type: "started" } })
              else if (result.kind === "data")
                observer.next({ result: { type: "data", data: superjson.parse(result.data) } })
              else if (result.kind === "complete") observer.complete()
              else observer.error(rebuilt(result))
            })
            const input = superjson.stringify(op.input)
            void page.evaluate(
              ([i, type, path, encoded]) => (globalThis as unknown as PageWindow).trpcPage.op(i, type, path, encoded),
              [id, op.type, op.path, input] as const,
            )
            const abort = () => void page.evaluate((i) => (globalThis as unknown as PageWindow).trpcPage.abort(i), id)
            op.signal?.addEventListener("abort", abort, { once: true })
            return () => {
              op.signal?.removeEventListener("abort", abort)
              listeners.delete(id)
              if (op.type === "subscription") {
                page.evaluate((i) => (globalThis as unknown as PageWindow).trpcPage.unsubscribe(i), id).catch(() => {})
              }
            }
          })
      return {
        trpc: createTRPCClient<AppRouter>({ links: [pageLink] }),
        log,
        cancelsQueries: true,
        async close() {
          await page.evaluate(() => (globalThis as unknown as PageWindow).trpcPage.close())
          routes.set(page, undefined)
          await givePageBack(page)
          await server.close()
          site.closeAllConnections()
          await new Promise((resolve) => site.close(resolve))
        },
      }
    },
  }
}
