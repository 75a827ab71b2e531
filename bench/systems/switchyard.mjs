// Switchyard over WebSocket: an `echo` rpc whose input and output are the Effect Schema struct below.
// Every call is validated four times (client encode, server decode, server encode, client decode),
// as the contract promises. `switchyardStandard.mjs` runs the same server and client with a
// hand-written Standard Schema instead, to show what Effect Schema costs on top of the protocol.
import { createClient } from "@switchyard/client-browser"
import { contract, rpc } from "@switchyard/core"
import { createServer } from "@switchyard/server-node"
import * as Schema from "effect/Schema"
import WebSocket from "ws"

export const name = "switchyard"
export const label = "Switchyard (Effect Schema)"

const Payload = Schema.Struct({ n: Schema.Number, s: Schema.String })
export const EchoContract = contract({ rpc: { echo: rpc({ input: Payload, output: Payload }) } })

/** Server and client of an echo contract; the adapters differ only in the payload schema. */
export function switchyardSystem(echoContract, clientOptions = {}) {
  return {
    async startServer() {
      const server = createServer(echoContract, { rpc: { echo: (input) => input } })
      const { url } = await server.listen(0, "127.0.0.1")
      return { url, close: () => server.close() }
    },
    async connectClient(url) {
      const client = createClient(echoContract, { url, WebSocket, ...clientOptions })
      if (client.state !== "connected") {
        await new Promise((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error(`switchyard: still ${client.state} after 10 s`)), 10_000)
          const off = client.on("state", (state) => {
            if (state !== "connected") return
            clearTimeout(timer)
            off()
            resolve()
          })
        })
      }
      return {
        call: (payload) => client.rpc.echo(payload),
        close: () => client.close(),
      }
    },
  }
}

export const { startServer, connectClient } = switchyardSystem(EchoContract)
