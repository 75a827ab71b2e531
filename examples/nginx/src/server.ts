import { setTimeout as sleep } from "node:timers/promises"
import { createServer, type Server, type ServerOptions } from "@switchyard/server-node"
import { Status } from "./contract.ts"

// #region options
/**
 * What the server needs to know about the nginx in front of it. `publicOrigin` is where your pages are
 * served from, as the browser writes it (`https://app.example`).
 */
export function behindNginx(publicOrigin: string) {
  return {
    // nginx runs on this host: believe the X-Forwarded-For it writes, and nobody else's. Without this,
    // every client has nginx's address and shares its per-address limits.
    trustedProxies: ["127.0.0.1", "::1"],
    // nginx rewrites Host (`$host` has no port), so the same-origin default is unreliable: list your pages.
    allowedOrigins: [publicOrigin],
  } satisfies ServerOptions
}
// #endregion options

/** The app: Switchyard on its own HTTP server, on loopback only, where nginx reaches it. */
export async function startApp(options: {
  readonly port: number
  readonly publicOrigin: string
}): Promise<{ readonly server: Server<Status>; readonly port: number }> {
  // #region server
  const server = createServer(
    Status,
    {
      rpc: { hello: ({ name }, ctx) => `Hello, ${name}, over ${ctx.transport}` },
      streams: {
        ticks: async function* ({ count, everyMs }, ctx) {
          for (let i = 1; i <= count && !ctx.signal.aborted; i++) {
            if (i > 1) await sleep(everyMs)
            yield i
          }
        },
      },
    },
    behindNginx(options.publicOrigin),
  )
  // Loopback only: clients reach the app through nginx, never directly.
  const { port } = await server.listen(options.port, "127.0.0.1")
  // #endregion server
  return { server, port }
}
