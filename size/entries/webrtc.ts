// Standard Schema contract, WebSocket, and the WebRTC data-channel transport.
import { createClient, websocketTransport } from "@switchyard/client-browser"
import { webrtcTransport } from "@switchyard/webrtc-data"
import { Chat } from "./contract.standard.ts"

const client = createClient(Chat, { url: "/switchyard", transports: [websocketTransport(), webrtcTransport()] })
client.rpc.add({ a: 1, b: 2 }).then(console.log)
