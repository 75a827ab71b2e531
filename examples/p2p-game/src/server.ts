import { createServer as createHttpServer } from "node:http"
import type { AddressInfo } from "node:net"
import { fileURLToPath } from "node:url"
import { createServer, type Server } from "@switchyard/server-node"
import { buildAssets, serveAssets } from "./assets.ts"
import { Arena } from "./contract.ts"
import { Matches } from "./matches.ts"

export interface GameServerOptions {
  /** Default 0: a free port. */
  readonly port?: number
  /** Default `"localhost"`. */
  readonly host?: string
  /** The example's folder (holds `index.html` and `src/page.ts`); `start.mjs` passes it, as it runs a bundled copy. */
  readonly root?: string
}

/** A running game server: the page, the Switchyard endpoint, and who sits in which match. */
export interface GameServer {
  /** The page's URL, e.g. `http://localhost:3000/`. */
  readonly url: string
  readonly switchyard: Server<Arena>
  readonly matches: Matches
  close(): Promise<void>
  [Symbol.asyncDispose](): Promise<void>
}

/**
 * Builds the page and starts the HTTP server with Switchyard attached.
 *
 * @example
 * const game = await startGameServer({ port: 3000 })
 * console.log(game.url)
 */
export async function startGameServer(options: GameServerOptions = {}): Promise<GameServer> {
  const assets = await buildAssets(options.root ?? fileURLToPath(new URL("..", import.meta.url)))
  const matches = new Matches()

  // #region server
  const switchyard = createServer(
    Arena,
    {
      rpc: {
        join: ({ match, peerId }, ctx) =>
          matches.join(match, ctx.sessionId, peerId) ?? ctx.fail({ _tag: "MatchFull", match }),
      },
    },
    {
      path: "/switchyard",
      // Players of one match may open a peer connection to each other, nobody else. Positions and
      // points then go between the two browsers; the server only introduces them (and relays when
      // no direct channel can be made).
      peers: {
        authorize: ({ from, to }) => {
          const a = matches.seatOf(from.sessionId)
          const b = matches.seatOf(to.sessionId)
          return a !== undefined && a.match === b?.match && b.peerId === to.peerId
        },
      },
      onSessionEnd: (session) => matches.leave(session.id),
    },
  )
  // #endregion server

  const http = createHttpServer((request, response) => serveAssets(request, response, assets))
  switchyard.attach(http)
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
  const shown = host === "0.0.0.0" || host === "::" || host === "" ? "localhost" : host
  return {
    url: `http://${shown.includes(":") ? `[${shown}]` : shown}:${port}/`,
    switchyard,
    matches,
    close,
    [Symbol.asyncDispose]: close,
  }
}
