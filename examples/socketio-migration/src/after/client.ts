import { createClient, type WebSocketConstructor } from "@switchyard/client-browser/all"
import { isFailure, type SwitchyardError } from "@switchyard/core"
import WebSocket from "ws"
import { type ChatClient, ChatError, type Message } from "../chat.ts"
import { Chat } from "./contract.ts"

/** Connects to the Switchyard app at `url` as the owner of `token`. */
export function connectAfter(url: string, token: string): Promise<ChatClient> {
  // The sockets this client opened, so that `drop()` can cut the current one as a network would.
  const sockets: WebSocket[] = []
  const Tracked = class extends WebSocket {
    constructor(...args: ConstructorParameters<typeof WebSocket>) {
      super(...args)
      sockets.push(this)
    }
  } as unknown as WebSocketConstructor

  // #region client
  const client = createClient(Chat, {
    url,
    transports: ["websocket"],
    WebSocket: Tracked, // in a browser, leave it out: the page's WebSocket is used
    auth: { params: { token } },
    reconnect: { initialDelayMs: 300 },
  })
  const listeners: Array<(message: Message) => void> = []

  const chat: ChatClient = {
    join: async (room) => {
      const history = await client.rpc.join({ room })
      // socket.join(room) on the server → subscribing to the room's key here (the server allows it once joined)
      await client.topics.room(room).subscribe((message) => {
        for (const listener of listeners) listener(message)
      }).ready
      return history
    },
    say: (room, text) =>
      client.rpc.say({ room, text }).catch((error: SwitchyardError) => {
        throw isFailure<{ _tag: "NotJoined" }>(error) ? new ChatError(error.data._tag) : error
      }),
    onMessage: (listener) => void listeners.push(listener),
    onConnection: (listener) => {
      client.on("state", (state) => state === "reconnecting" && listener("down"))
      client.on("session", ({ recovered }) => listener(recovered ? "recovered" : "new"))
    },
    drop: () => sockets.at(-1)?.terminate(),
    close: () => client.close(),
  }
  // #endregion client
  return new Promise((resolve, reject) => {
    const offState = client.on("state", (state) => {
      if (state !== "connected") return
      offState()
      offError()
      resolve(chat)
    })
    const offError = client.on("error", (error) => {
      if (error.code !== "AUTH_REFUSED") return
      offState()
      offError()
      void client.close()
      reject(new ChatError("Unauthorized"))
    })
  })
}
