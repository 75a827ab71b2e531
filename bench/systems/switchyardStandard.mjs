// Switchyard with the Effect schema swapped for a hand-written Standard Schema that checks the same
// shape (the same guard tRPC's adapter uses). Not one of the peers: a diagnostic row that separates the
// cost of Switchyard's protocol from the cost of Effect Schema.
import { contract, rpc } from "@switchyard/core"
import { switchyardSystem } from "./switchyard.mjs"

export const name = "switchyard-std"
export const label = "Switchyard (type-guard Standard Schema)"

const Payload = {
  "~standard": {
    version: 1,
    vendor: "switchyard-bench",
    validate(value) {
      if (typeof value !== "object" || value === null || typeof value.n !== "number" || typeof value.s !== "string") {
        return { issues: [{ message: "expected { n: number, s: string }" }] }
      }
      return { value: { n: value.n, s: value.s } }
    },
  },
}
const EchoContract = contract({ rpc: { echo: rpc({ input: Payload, output: Payload }) } })

export const { startServer, connectClient } = switchyardSystem(EchoContract, { transports: ["websocket"] })
