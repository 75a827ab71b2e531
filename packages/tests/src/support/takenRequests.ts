import { createServer as createHttpServer } from "node:http"
import type { AddressInfo } from "node:net"

/** What `servedCounting` needs of a Switchyard server. */
interface Attachable {
  attach(http: import("node:http").Server): void
}

/**
 * Serves `server` on an HTTP server of the test's own, on 127.0.0.1, that counts the requests the server
 * has taken. The server routes a downstream GET synchronously, and a listener added after `attach` runs
 * after its own: a long poll counted is held, however slow the machine (a fixed pause could be too short).
 * `url` ends with `path`, the server's own (its `path` option).
 *
 * @example
 * await using served = await servedCounting(server)
 * const before = served.taken()
 * const held = fetch(`${served.url}?transport=long-polling&link=${link}`)
 * await waitFor(() => served.taken() > before, 5000, "the poll to be held")
 */
export async function servedCounting(server: Attachable, path = "/switchyard") {
  const http = createHttpServer()
  server.attach(http)
  let taken = 0
  http.on("request", () => taken++)
  await new Promise<void>((resolve, reject) => {
    http.once("error", reject)
    http.listen(0, "127.0.0.1", resolve)
  })
  return {
    url: `http://127.0.0.1:${(http.address() as AddressInfo).port}${path}`,
    /** Requests the server has taken so far. */
    taken: () => taken,
    async [Symbol.asyncDispose]() {
      http.closeAllConnections()
      await new Promise((resolve) => http.close(resolve))
    },
  }
}
