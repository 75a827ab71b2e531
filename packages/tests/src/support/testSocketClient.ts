import { websocketTransport } from "@switchyard/client-browser"
import type { ClientTransport } from "@switchyard/core"
import type WebSocket from "ws"

/**
 * The client half of `"test-socket"` (testSocketServer.ts): a WebSocket to the server's URL that names
 * the transport. It declares what negotiation needs of it: an upgrade, as likely to connect at once as
 * WebSocket's, so it starts after WebSocket (40) when both are there.
 */
export function testSocketTransport(options: { readonly WebSocket: typeof WebSocket }): ClientTransport {
  const carrier = websocketTransport(options)
  return {
    id: "test-socket",
    startRank: 45,
    connect: (url, events) => carrier.connect(`${url}${url.includes("?") ? "&" : "?"}transport=test-socket`, events),
  }
}
