import type { Acceptor } from "@switchyard/core"
import type { ServerTransport, TransportHost } from "../transport.ts"

/** The server half of the in-memory pair: `accept` is what the client half connects to. */
export interface MemoryServerTransport extends ServerTransport {
  /**
   * Hands a link to the server this transport is registered with, as `memoryTransport` of
   * `@switchyard/core` (the client half) does on connecting. Throws before `createServer` started it.
   */
  readonly accept: Acceptor
}

/**
 * The in-memory transport, server side: no sockets, links handed over in-process. For fast tests and the
 * contract suite (`packages/tests/src/contract.memory.test.ts`); it registers like any other transport.
 *
 * @example
 * ```ts
 * import { createClient } from "@switchyard/client-browser"
 * import { memoryTransport } from "@switchyard/core"
 * import { createServer, memoryServer, websocketServer } from "@switchyard/server-node"
 *
 * const inProcess = memoryServer()
 * const server = createServer(Chat, handlers, { transports: [websocketServer(), inProcess] })
 * const client = createClient(Chat, { url: "memory:", transports: [memoryTransport(inProcess.accept)] })
 * ```
 */
export function memoryServer(): MemoryServerTransport {
  let host: TransportHost | undefined
  return {
    id: "memory",
    offer: { duplex: true, binary: true, ordered: true },
    reach: "in-process",
    start(started) {
      if (host) throw new Error("switchyard: a memoryServer() transport serves one server")
      host = started
      // Its links close with their sessions, and the client half sees them close: nothing else to do.
      return { close: async () => {} }
    },
    accept(link, info) {
      if (!host) throw new Error("switchyard: this memoryServer() transport is not registered with a server yet")
      return host.accept(link, { ...info, transport: "memory" })
    },
  }
}
