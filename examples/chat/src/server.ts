import { readFile } from "node:fs/promises"
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from "node:http"
import type { AddressInfo } from "node:net"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { createServer, type Server, type ServerLimits, type ServerOptions } from "@switchyard/server-node"
import { webrtcServer } from "@switchyard/webrtc-data/server"
import * as Schema from "effect/Schema"
import { build } from "esbuild"
import { Chat, RoomName } from "./contract.ts"
import { Rooms } from "./rooms.ts"

export interface ChatServerOptions {
  /** Default 0: a free port. */
  readonly port?: number
  /** Default `"localhost"`. */
  readonly host?: string
  /**
   * The example's folder (holds `index.html` and `src/page.ts`). Defaults to the folder above this
   * file, which is right when this file runs from source (vitest); `start.mjs` runs a bundled copy from
   * elsewhere, so it passes the folder itself.
   */
  readonly root?: string
  /** Overrides of the Switchyard server's limits. */
  readonly limits?: Partial<ServerLimits>
  /** More options of the Switchyard server: `pnpm demo:cluster` (cluster.mjs) passes each node its broker. */
  readonly switchyard?: Omit<ServerOptions, "path" | "limits" | "webrtc">
}

/** A running chat: one HTTP server that serves the page and carries the Switchyard transport. */
export interface ChatServer {
  /** The page's URL, e.g. `http://localhost:3000/`. */
  readonly url: string
  readonly port: number
  readonly switchyard: Server<Chat>
  readonly rooms: Rooms
  close(): Promise<void>
  [Symbol.asyncDispose](): Promise<void>
}

/** Where the transport lives; the page derives its URL from its own origin and this path. */
export const SWITCHYARD_PATH = "/switchyard"

/**
 * Builds the page, starts the HTTP server and attaches Switchyard to it.
 *
 * @example
 * const chat = await startChatServer({ port: 3000 })
 * console.log(chat.url)
 */
export async function startChatServer(options: ChatServerOptions = {}): Promise<ChatServer> {
  const root = options.root ?? fileURLToPath(new URL("..", import.meta.url))
  const assets = await buildAssets(root)

  const rooms = new Rooms()
  const isRoomName = Schema.is(RoomName)
  /** Who is online in a room, on every node: the members of `online(room)`. */
  const members = (room: string) => switchyard.topics.online(room).presence()

  const switchyard: Server<Chat> = createServer(
    Chat,
    {
      // #region rpc-handlers
      rpc: {
        // A name is unique in a room: checked against the members on every node. Two sessions claiming
        // one name at the same instant on two nodes could both get it; the demo accepts that.
        join: async ({ room, user }, ctx) => {
          const listed = await members(room)
          const mine = listed.find((m) => m.id === ctx.sessionId)
          if (mine) return ctx.fail({ _tag: "AlreadyJoined", user: mine.data.user })
          if (listed.some((m) => m.data.user === user)) return ctx.fail({ _tag: "NameTaken", user })
          rooms.claim(room, user, ctx.sessionId)
          return names(listed)
        },
        say: async ({ room, text }, ctx) => {
          const member = (await members(room)).find((m) => m.id === ctx.sessionId)
          if (!member) return ctx.fail({ _tag: "NotJoined", room })
          const message = rooms.record(room, member.data.user, text)
          switchyard.topics.room(room).publish(message)
          return message
        },
        who: async ({ room }) => names(await members(room)),
        history: ({ room }) => rooms.history(room),
      },
      // #region topic-policies
      // #endregion rpc-handlers
      topics: {
        // Only the server publishes: `say` stamps the author and the time, which a publish policy
        // (accept or refuse, nothing else) could not do.
        room: { canSubscribe: (key) => isRoomName(key), canPublish: () => false },
        // Subscribing is being in the room, under the name this session claimed with `join`. The member
        // leaves when it unsubscribes or its session ends (a dropped connection that resumes in time,
        // here or on another node, keeps it listed).
        online: {
          canSubscribe: (key) => isRoomName(key),
          canPublish: () => false,
          presence: (room, ctx) => {
            const user = rooms.claimed(room, ctx.sessionId)
            if (user === undefined)
              throw new Error(`session ${ctx.sessionId} subscribed to online(${room}) without join`)
            return { user }
          },
        },
      },
      // #endregion topic-policies
    },
    // #region server-options
    {
      path: SWITCHYARD_PATH,
      // Same-origin only (the default allow-list): the page is served by this very server.
      // A session whose connection dropped is kept this long for a resume, and its user stays online
      // meanwhile. The default (60 s) would keep a crashed tab's name taken for a minute; 15 s still
      // rides out a network switch. (A tab closed normally says goodbye and leaves at once.)
      limits: { resumeWindowMs: 15_000, ...options.limits },
      // WebRTC data channels, offered first: the page moves its session to one once it is open. The
      // server's peer runs in this process (node-datachannel); no STUN or TURN is needed on one machine
      // or one LAN (docs/webrtc.md).
      webrtc: webrtcServer(),
      ...options.switchyard,
    },
    // #endregion server-options
  )

  // #region serve
  const http = createHttpServer((request, response) => servePage(request, response, assets))
  switchyard.attach(http)
  // #endregion serve
  const host = options.host ?? "localhost"
  try {
    await new Promise<void>((resolve, reject) => {
      http.once("error", reject)
      http.listen(options.port ?? 0, host, () => {
        http.off("error", reject)
        resolve()
      })
    })
  } catch (error) {
    await switchyard.close()
    throw error
  }
  const { port } = http.address() as AddressInfo

  let closing: Promise<void> | undefined
  const close = () =>
    (closing ??= (async () => {
      await switchyard.close()
      http.closeAllConnections()
      await new Promise<void>((resolve) => http.close(() => resolve()))
    })())
  return { url: pageUrl(host, port), port, switchyard, rooms, close, [Symbol.asyncDispose]: close }
}

interface Asset {
  readonly type: string
  readonly body: Uint8Array
}

/**
 * Reads `index.html` and bundles `src/page.ts` in memory. The page imports the workspace packages'
 * TypeScript sources through the `@switchyard/source` export condition, so nothing needs building first.
 */
async function buildAssets(root: string): Promise<ReadonlyMap<string, Asset>> {
  const [html, bundle] = await Promise.all([
    readFile(join(root, "index.html")),
    // #region bundle
    build({
      entryPoints: [join(root, "src/page.ts")],
      bundle: true,
      write: false,
      platform: "browser",
      format: "esm",
      target: "es2022",
      minify: true,
      conditions: ["@switchyard/source"],
      logLevel: "silent",
    }),
    // #endregion bundle
  ])
  const js = bundle.outputFiles[0]
  if (!js) throw new Error("esbuild produced no page bundle")
  const page: Asset = { type: "text/html; charset=utf-8", body: html }
  return new Map([
    ["/", page],
    ["/index.html", page],
    ["/page.js", { type: "text/javascript; charset=utf-8", body: js.contents }],
  ])
}

function servePage(request: IncomingMessage, response: ServerResponse, assets: ReadonlyMap<string, Asset>): void {
  const path = new URL(request.url ?? "/", "http://localhost").pathname
  const asset = assets.get(path)
  const method = request.method ?? "GET"
  if (asset && method !== "GET" && method !== "HEAD") {
    response.writeHead(405, { allow: "GET, HEAD" }).end()
    return
  }
  if (!asset) {
    response.writeHead(404, { "content-type": "text/plain; charset=utf-8" }).end("not found\n")
    return
  }
  response.writeHead(200, {
    "content-type": asset.type,
    "content-length": asset.body.byteLength,
    "cache-control": "no-store",
    "x-content-type-options": "nosniff",
    "content-security-policy": "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:",
  })
  response.end(method === "HEAD" ? undefined : asset.body)
}

function pageUrl(host: string, port: number): string {
  const shown = host === "" || host === "0.0.0.0" || host === "::" ? "localhost" : host
  return `http://${shown.includes(":") ? `[${shown}]` : shown}:${port}/`
}

/** The names of a room's members, sorted. */
function names(members: readonly { readonly data: { readonly user: string } }[]): string[] {
  return members.map((m) => m.data.user).sort((a, b) => a.localeCompare(b))
}
