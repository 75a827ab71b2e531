import { clientBody } from "@switchyard/core"
import type { PeerHost, PeerModule } from "./options.ts"

/** `client.peers` of a client made without `peers()`: connects fail, incoming connections are turned down. */
export function withoutPeers(host: PeerHost): PeerModule {
  const missing = () =>
    new TypeError("switchyard: client.peers needs `peers: peers()` (from @switchyard/client-browser/peers)")
  const module: PeerModule = {
    id: undefined,
    api: {
      get id() {
        return module.id
      },
      connect: () => Promise.reject(missing()),
      onConnection: () => {
        throw missing()
      },
    },
    receive(conn, op) {
      if (op === "incoming") host.send(clientBody.peer(conn, "reject", JSON.stringify("no listener for connections")))
      else if (op === "open") host.send(clientBody.peer(conn, "close", JSON.stringify("nobody is waiting")))
    },
    // Only the op is read, to turn the connection down: the data may be anything.
    accepts: (op) => typeof op === "string",
    endAll() {},
  }
  return module
}
