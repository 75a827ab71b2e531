import type { TransportId, TransportOffer } from "./types.ts"

/** What every transport can carry, as offers list it. */
export const transportTraits: Readonly<Record<TransportId, Omit<TransportOffer, "id">>> = {
  webrtc: { duplex: true, binary: true, ordered: true },
  websocket: { duplex: true, binary: true, ordered: true },
  sse: { duplex: false, binary: false, ordered: true },
  "long-polling": { duplex: false, binary: false, ordered: true },
  polling: { duplex: false, binary: false, ordered: true },
  memory: { duplex: true, binary: true, ordered: true },
}

const transportIds = new Set<string>(Object.keys(transportTraits))

/** Whether `value` names a transport this version of Switchyard knows. */
export function isTransportId(value: unknown): value is TransportId {
  return typeof value === "string" && transportIds.has(value)
}
