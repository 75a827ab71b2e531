import type { TransportId } from "@switchyard/core"
import type { ServerTransport } from "./transport.ts"
import { longPollingServer } from "./transports/longPolling.ts"
import { pollingServer } from "./transports/polling.ts"
import { sseServer } from "./transports/sse.ts"
import { websocketServer } from "./transports/websocket.ts"

/**
 * The built-in transports a string id in `options.transports` stands for. A new transport registers on
 * this list only when it should also be named by a bare id; otherwise its factory is all it needs.
 */
const builtIn: Partial<Record<TransportId, () => ServerTransport>> = {
  websocket: websocketServer,
  sse: sseServer,
  "long-polling": longPollingServer,
  polling: pollingServer,
}

/**
 * The transports a server runs when its options do not say, in order of preference.
 *
 * @example
 * ```ts
 * createServer(Chat, handlers, { transports: [...defaultTransports(), memoryServer()] })
 * ```
 */
export function defaultTransports(): ServerTransport[] {
  return [websocketServer(), sseServer(), longPollingServer(), pollingServer()]
}

/**
 * The transports of `createServer`'s options, in the order they are offered: signalled ones (WebRTC)
 * first, as a client reaches them only by upgrade, then the others in the order given.
 */
export function resolveTransports(
  listed: readonly (TransportId | ServerTransport)[] | undefined,
  webrtc: ServerTransport | undefined,
): ServerTransport[] {
  if (listed?.length === 0) throw new TypeError("switchyard: a server must offer at least one transport")
  const given = listed ?? defaultTransports()
  const out: ServerTransport[] = []
  const ids = new Set<TransportId>()
  for (const entry of webrtc ? [webrtc, ...given] : given) {
    const transport = typeof entry !== "string" ? entry : Object.hasOwn(builtIn, entry) ? builtIn[entry]?.() : undefined
    if (!transport) throw new TypeError(`switchyard: this server cannot offer transport ${JSON.stringify(entry)}`)
    if (ids.has(transport.id)) {
      // The same id twice by name is harmless (it was always allowed); two transport objects are a mistake.
      if (typeof entry === "string") continue
      throw new TypeError(`switchyard: transport ${JSON.stringify(transport.id)} is listed twice`)
    }
    ids.add(transport.id)
    out.push(transport)
  }
  return [...out.filter((t) => t.reach === "signalled"), ...out.filter((t) => t.reach !== "signalled")]
}
