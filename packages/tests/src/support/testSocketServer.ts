import type { IncomingMessage } from "node:http"
import { type ServerTransport, websocketServer } from "@switchyard/server-node"

/** The id of the test transport: one this version of Switchyard has never heard of. */
export const TEST_SOCKET = "test-socket"

/**
 * The server half of `"test-socket"`, a transport of a new id written against the public API only: the
 * WebSocket upgrades that name it (`?transport=test-socket`), carried by the built-in WebSocket
 * transport's machinery, its connections reported as `"test-socket"`. Registering it is listing it in
 * `createServer`'s `transports`; nothing in Switchyard knows its id.
 */
export function testSocketServer(): ServerTransport {
  const carrier = websocketServer()
  return {
    id: TEST_SOCKET,
    offer: { duplex: true, binary: true, ordered: true },
    reach: "request",
    start(host) {
      const running = carrier.start({
        ...host,
        accept: (link, info) => host.accept(link, { ...info, transport: TEST_SOCKET }),
      })
      return {
        upgrade: (request, socket, head) => named(request) && (running.upgrade?.(request, socket, head) ?? false),
        close: () => running.close(),
      }
    },
  }
}

function named(request: IncomingMessage): boolean {
  return new URL(request.url ?? "/", "http://localhost").searchParams.get("transport") === TEST_SOCKET
}
