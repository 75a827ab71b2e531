// What both versions of the app share: the users, the rooms' history, and what a client can do. The
// migration changes the transport layer (src/before → src/after); nothing here changes.

/** A chat message as the server stamped it; `id` orders a room's messages. */
export interface Message {
  readonly id: number
  readonly room: string
  readonly user: string
  readonly text: string
}

/** What a connected client can do, the same on Socket.IO and on Switchyard. */
export interface ChatClient {
  /** Enters `room`; answers its history. */
  join(room: string): Promise<readonly Message[]>
  /** Posts to `room`; answers the message as stamped, or rejects with `NotJoined`. */
  say(room: string, text: string): Promise<Message>
  /** Every message of every room joined, as it arrives. */
  onMessage(listener: (message: Message) => void): void
  /** `"down"` when the connection drops, `"recovered"` when it is back with nothing missed, `"new"` when state was lost. */
  onConnection(listener: (event: "down" | "recovered" | "new") => void): void
  /** Cuts the connection as a network would (the client reconnects by itself): for the demo and the tests. */
  drop(): void
  close(): Promise<void>
}

/** The error `say` rejects with before `join`, and `connect` with for a bad token. */
export class ChatError extends Error {
  constructor(readonly code: "NotJoined" | "Unauthorized") {
    super(code)
  }
}

/** Tokens and who they belong to: a stand-in for your session store. */
const users = new Map([
  ["t-alice", "alice"],
  ["t-bob", "bob"],
  ["t-carol", "carol"],
  ["t-dave", "dave"],
])

export function userOf(token: unknown): string | undefined {
  return typeof token === "string" ? users.get(token) : undefined
}

/** Each room's messages, in memory. */
export class Rooms {
  private readonly rooms = new Map<string, Message[]>()

  record(room: string, user: string, text: string): Message {
    const list = this.rooms.get(room) ?? []
    const message: Message = { id: list.length + 1, room, user, text }
    this.rooms.set(room, [...list, message])
    return message
  }

  history(room: string): readonly Message[] {
    return this.rooms.get(room) ?? []
  }
}
