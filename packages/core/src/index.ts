export type {
  Client,
  ClientEvents,
  ClientState,
  RpcCallOptions,
  StreamCallOptions,
  SubscribeOptions,
  TopicHandle,
  TopicRecovery,
} from "./client.ts"
export {
  type AnyContract,
  type AnySchema,
  type Contract,
  contract,
  type Delivery,
  type EncodedOf,
  type ErrorOf,
  type RpcDefinition,
  type RpcMap,
  rpc,
  type StreamDefinition,
  type StreamMap,
  stream,
  type TopicDefinition,
  type TopicMap,
  type TypeOf,
  topic,
} from "./contract.ts"
export { type Corkable, corkPerTick } from "./cork.ts"
export {
  ContractError,
  closeCodeOf,
  codeOfClose,
  type ErrorCode,
  errorCodes,
  isErrorCode,
  isFailure,
  ProtocolError,
  SessionError,
  SwitchyardError,
  switchyardError,
} from "./errors.ts"
export { Heartbeat } from "./heartbeat.ts"
export { LatestFrames, type LatestOutlet, type LatestSender, latestPerTick } from "./latest.ts"
export { type MemoryTransport, memoryTransport } from "./memory.ts"
export {
  defaultLadder,
  emptyMemory,
  fallback,
  hasFailed,
  type IceServer,
  isTransportId,
  type Plan,
  type PlanInput,
  parseMemory,
  plan,
  rememberFailure,
  rememberSuccess,
  type ServerOffer,
  type TransportMemory,
  type TransportOffer,
  transportTraits,
} from "./negotiation.ts"
export {
  type CompiledContract,
  type CompiledRpc,
  type CompiledStream,
  type CompiledTopic,
  compileContract,
  type Outcome,
  type PayloadCodec,
  payloadCodec,
} from "./payload.ts"
export {
  body,
  control,
  type DecodeOptions,
  type DecodeResult,
  dataFrame,
  decodeClientFrame,
  decodeServerFrame,
  defaultDecodeOptions,
  exceedsBytes,
  exceedsDepth,
  isAckFrame,
  MAX_CANDIDATE_LENGTH,
  MAX_CREDIT,
  MAX_KEY_LENGTH,
  MAX_NAME_LENGTH,
  MAX_SDP_LENGTH,
  peekRequestHeader,
  stringifyPayload,
  unreliableFrame,
  utf8Length,
} from "./protocol/codec.ts"
export * from "./protocol/frames.ts"
export { type Arrival, defaultSessionOptions, type Link, Session, type SessionOptions, unref } from "./session.ts"
export type { StandardSchemaV1 } from "./standardSchema.ts"
export type {
  Acceptor,
  ClientLinkEvents,
  ClientTransport,
  ConnectionInfo,
  ServerLinkEvents,
  Signalling,
  TransportCapabilities,
  TransportId,
} from "./transport.ts"
