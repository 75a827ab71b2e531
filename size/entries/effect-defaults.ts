// Effect Schema contract, the default transports.
import { createClient } from "@switchyard/client-browser/all"
import { Chat } from "./contract.effect.ts"

const client = createClient(Chat, { url: "/switchyard" })
client.rpc.add({ a: 1, b: 2 }).then(console.log)
