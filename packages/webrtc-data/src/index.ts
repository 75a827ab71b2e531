// The client side of WebRTC data channels: `webrtcTransport()` (client.ts) and the channel link both
// sides share (channelLink.ts). The Node server peer is `@switchyard/webrtc-data/server` (server.ts).
export type { IceCandidate } from "@switchyard/core"
export {
  type ChannelEvents,
  CLOSE_GRACE_MS,
  CLOSING_MESSAGE,
  channelLink,
  type DataChannelLike,
  type LossyChannel,
  MAX_CLOSE_WAIT_MS,
  UNRELIABLE_BUFFERED_BYTES,
  UNRELIABLE_CHANNEL,
  UNRELIABLE_CHANNEL_ID,
  UNRELIABLE_CHANNEL_OPTIONS,
} from "./channelLink.ts"

export {
  DISCONNECTED_TIMEOUT_MS,
  type PeerConnectionConstructor,
  type PeerConnectionLike,
  SESSION_CHANNEL,
  type WebRtcTransportOptions,
  webrtcTransport,
} from "./client.ts"
