// Switchyard over WebSocket: an `echo` rpc whose input and output are the Effect Schema struct below.
// Every call is validated four times (client encode, server decode, server encode, client decode),
// as the contract promises. `switchyardStandard.mjs` runs the same server and client with a
// hand-written Standard Schema instead, to show what Effect Schema costs on top of the protocol.
// Fan-out: a `feed` topic of the same payload; the server publishes with `server.topics.feed(key)`, each
// subscriber is its own client (own session) subscribed with `client.topics.feed(key).subscribe`.
import { createClient } from "@switchyard/client-browser/all"
import { contract, rpc, topic } from "@switchyard/core"
import { createServer } from "@switchyard/server-node"
import * as Schema from "effect/Schema"
import WebSocket from "ws"

export const name = "switchyard"
export const label = "Switchyard (Effect Schema)"

const Payload = Schema.Struct({ n: Schema.Number, s: Schema.String })
export const EchoContract = contract({ rpc: { echo: rpc({ input: Payload, output: Payload }) } })
export const FeedContract = contract({ topics: { feed: topic({ message: Payload }) } })

/**
 * The pipelined rows send one client's calls as fast as the server answers them (200,000 a second and
 * more), far past the default per-connection rate (2,000 frames a second, docs/limits.md), which would
 * refuse most of them with RATE_LIMITED: the bench measures the transport, so the rate is lifted. The
 * per-address session bounds stay at their defaults (every load client is on 127.0.0.1: the fan-out's 100
 * subscribers are within the new-session burst).
 */
const benchLimits = {
  connectionFramesPerSecond: Number.POSITIVE_INFINITY,
  connectionBytesPerSecond: Number.POSITIVE_INFINITY,
}

/** Resolves once `client` is connected (a client starts connecting when created). */
async function connected(client) {
  if (client.state === "connected") return
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

/**
 * Server and client of an echo contract, and of the fan-out over `FeedContract`; the adapters differ
 * only in the payload schema, the client's options (transports), the server's options (`serverOptions`,
 * for the WebRTC plug-in) and what "ready to measure" means (`ready`, after `connected`).
 */
export function switchyardSystem(echoContract, clientOptions = {}, { serverOptions = {}, ready } = {}) {
  return {
    /** `overrides`: server options on top of the row's own (the idle-memory run raises the per-address bounds). */
    async startServer(overrides = {}) {
      const limits = { ...benchLimits, ...serverOptions.limits, ...overrides.limits }
      const server = createServer(
        echoContract,
        { rpc: { echo: (input) => input } },
        {
          ...serverOptions,
          ...overrides,
          limits,
        },
      )
      const { url } = await server.listen(0, "127.0.0.1")
      return { url, close: () => server.close() }
    },
    async connectClient(url) {
      const client = createClient(echoContract, { url, WebSocket, ...clientOptions })
      await connected(client)
      try {
        await ready?.(client)
      } catch (error) {
        await client.close()
        throw error
      }
      return {
        call: (payload) => client.rpc.echo(payload),
        close: () => client.close(),
      }
    },
    async startFanoutServer(key) {
      const server = createServer(FeedContract, {})
      const { url } = await server.listen(0, "127.0.0.1")
      const feed = server.topics.feed(key)
      return {
        url,
        subscribers: () => feed.subscribers,
        // Validated and serialised once, then the same text goes to every subscriber's session.
        publish: (message) => feed.publish(message),
        close: () => server.close(),
      }
    },
    async connectSubscriber(url, key, onMessage) {
      const client = createClient(FeedContract, { url, WebSocket, ...clientOptions })
      await connected(client)
      let failure
      client.topics.feed(key).subscribe(onMessage, {
        onError: (error) => {
          failure = error
        },
      })
      return {
        failure: () => failure,
        close: () => client.close(),
      }
    },
  }
}

// WebSocket only: a client with several transports would start on long polling and move up, which
// is what negotiation is for, not what this row measures.
export const { startServer, connectClient, startFanoutServer, connectSubscriber } = switchyardSystem(EchoContract, {
  transports: ["websocket"],
})
