export {
  type AnyContract,
  type AnySchema,
  type Contract,
  type EncodedOf,
  type ErrorOf,
  type RpcDefinition,
  type RpcMap,
  type StreamDefinition,
  type StreamMap,
  type TopicDefinition,
  type TopicMap,
  type TypeOf,
  contract,
  rpc,
  stream,
  topic,
} from "./contract.ts"
export type { Client, ClientEvents, ClientState, RpcCallOptions, StreamCallOptions, TopicHandle } from "./client.ts"
export {
  ContractError,
  type ErrorCode,
  ProtocolError,
  SessionError,
  SwitchyardError,
  closeCodeOf,
  codeOfClose,
  errorCodes,
  isErrorCode,
  isFailure,
  switchyardError,
} from "./errors.ts"
export { Heartbeat } from "./heartbeat.ts"
export { type MemoryTransport, memoryTransport } from "./memory.ts"
export {
  type CompiledContract,
  type CompiledRpc,
  type CompiledStream,
  type CompiledTopic,
  type Outcome,
  type PayloadCodec,
  compileContract,
  payloadCodec,
} from "./payload.ts"
export {
  type DecodeOptions,
  type DecodeResult,
  MAX_CREDIT,
  MAX_KEY_LENGTH,
  MAX_NAME_LENGTH,
  body,
  control,
  dataFrame,
  decodeClientFrame,
  decodeServerFrame,
  defaultDecodeOptions,
  exceedsDepth,
  stringifyPayload,
} from "./protocol/codec.ts"
export * from "./protocol/frames.ts"
export { type Arrival, type Link, Session, type SessionOptions, defaultSessionOptions, unref } from "./session.ts"
export type { StandardSchemaV1 } from "./standardSchema.ts"
export type {
  Acceptor,
  ClientLinkEvents,
  ClientTransport,
  ConnectionInfo,
  ServerLinkEvents,
  TransportCapabilities,
  TransportId,
} from "./transport.ts"
