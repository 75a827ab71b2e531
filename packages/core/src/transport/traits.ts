import type { BuiltInTransportId, TransportId, TransportOffer } from "./types.ts"

/**
 * What the built-in transports carry, as their offers list it. Each transport declares its own traits in
 * its own file (`ServerTransport.offer`); this table is for code that names a built-in by id (a test
 * transport that carries like one, `parseMemory`'s default ids).
 */
export const transportTraits: Readonly<Record<BuiltInTransportId, Omit<TransportOffer, "id">>> = {
  webrtc: { duplex: true, binary: true, ordered: true },
  websocket: { duplex: true, binary: true, ordered: true },
  sse: { duplex: false, binary: false, ordered: true },
  "long-polling": { duplex: false, binary: false, ordered: true },
  polling: { duplex: false, binary: false, ordered: true },
  memory: { duplex: true, binary: true, ordered: true },
}

/** Lower-case letters, digits and dashes, starting with a letter; at most 32 characters. */
const TRANSPORT_ID = /^[a-z][a-z0-9-]{0,31}$/

/**
 * Whether `value` can be a transport's id. Any transport may be new to this version, so this checks the
 * form only: whether a client or server runs it is for them to say.
 */
export function isTransportId(value: unknown): value is TransportId {
  return typeof value === "string" && TRANSPORT_ID.test(value)
}

/** Whether `value` is the id of a transport Switchyard ships. */
export function isBuiltInTransportId(value: unknown): value is BuiltInTransportId {
  return typeof value === "string" && Object.hasOwn(transportTraits, value)
}
