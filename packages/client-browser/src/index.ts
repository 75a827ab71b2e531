export type {
  Client,
  ClientCredentials,
  ClientEvents,
  ClientState,
  PeerChannel,
  PeerConnection,
  PeerConnectionEvents,
  PeerPath,
  Peers,
  RpcCallOptions,
  StreamCallOptions,
  SubscribeOptions,
  TopicHandle,
  TopicRecovery,
  TopicSubscription,
} from "@switchyard/core"
export { type BackoffOptions, backoffDelay } from "./backoff.ts"
export { createClient } from "./client.ts"
export type { TransportReason } from "./connectionEvents.ts"
export type { AuthOption, ClientOptions, NegotiationOptions, PeersFeature } from "./options.ts"
export type { StorageLike, TransportStore } from "./transportStore.ts"
export type { FetchLike } from "./transports/http.ts"
export { type LongPollingTransportOptions, longPollingTransport } from "./transports/longPolling.ts"
export { type PollingTransportOptions, pollingTransport } from "./transports/polling.ts"
export {
  type EventSourceConstructor,
  type EventSourceLike,
  type SseTransportOptions,
  sseTransport,
} from "./transports/sse.ts"
export {
  type WebSocketConstructor,
  type WebSocketLike,
  type WebSocketTransportOptions,
  websocketTransport,
} from "./transports/websocket.ts"
