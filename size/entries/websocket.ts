// Standard Schema contract, WebSocket only.
import { createClient, websocketTransport } from "@switchyard/client-browser"
import { Chat } from "./contract.standard.ts"

const client = createClient(Chat, { url: "/switchyard", transports: [websocketTransport()] })
client.rpc.add({ a: 1, b: 2 }).then(console.log)
