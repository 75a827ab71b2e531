// The root entry loads no Effect code at run time (type imports only): Effect schemas are compiled by
// `@switchyard/core/effect`, registered with `registerEffectCodec` or loaded by `prepareContract`.

// contract: builders, payload codecs, the typed client
export {
  type CompiledContract,
  type CompiledPeer,
  type CompiledRpc,
  type CompiledStream,
  type CompiledTopic,
  compileContract,
  prepareContract,
  usesEffectSchemas,
} from "./contract/compile.ts"
export {
  type AnyContract,
  type AnySchema,
  type Contract,
  contract,
  type Delivery,
  type EncodedOf,
  type ErrorOf,
  type PeerDefinition,
  type PeerMap,
  peer,
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
} from "./contract/contract.ts"
export {
  type EffectCodec,
  hasEffectCodec,
  isEffectSchema,
  type Outcome,
  type PayloadCodec,
  payloadCodec,
  registerEffectCodec,
} from "./contract/payloadCodec.ts"
export type { StandardSchemaV1 } from "./contract/standardSchema.ts"
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
  PresenceListeners,
  PresenceMember,
  PresenceTopicHandle,
  RpcCallOptions,
  StreamCallOptions,
  SubscribeOptions,
  TopicHandle,
  TopicRecovery,
  TopicSubscription,
} from "./contract/typedClient.ts"
// errors
export {
  ContractError,
  closeCodeOf,
  codeOfClose,
  type ErrorCode,
  errorCodes,
  type HttpErrorCode,
  type HttpRefusalCode,
  httpStatusOf,
  isErrorCode,
  isFailure,
  isHttpRefusalCode,
  ProtocolError,
  SessionError,
  SwitchyardError,
  switchyardError,
} from "./errors.ts"
// negotiation: the functions are at `@switchyard/core/negotiation` (negotiation/index.ts says why)
export type { Plan, PlanInput } from "./negotiation/plan.ts"
export type { TransportMemory } from "./negotiation/transportMemory.ts"
// protocol: frames and the one codec
export {
  type DecodeOptions,
  type DecodeResult,
  decodeClientFrame,
  decodeServerFrame,
  decodeServerFrameWith,
  defaultDecodeOptions,
  exceedsBytes,
  exceedsDepth,
  peekRequestHeader,
  utf8Length,
} from "./protocol/codec.ts"
export {
  ackFrame,
  body,
  clientBody,
  clientControl,
  control,
  dataFrame,
  isAckFrame,
  isEncodedUnreliable,
  isEncodedWelcome,
  presenceBody,
  stringifyPayload,
  unreliableFrame,
} from "./protocol/encode.ts"
export { MAX_CREDIT, MAX_KEY_LENGTH, MAX_NAME_LENGTH } from "./protocol/fields.ts"
export * from "./protocol/frames.ts"
export {
  clientPeerDataError,
  isServerPeerData,
  isSignalData,
  MAX_CANDIDATE_LENGTH,
  MAX_PEER_ID_LENGTH,
  MAX_SDP_LENGTH,
} from "./protocol/peerData.ts"
// session: reliability, limits, liveness
export { Heartbeat } from "./session/heartbeat.ts"
export {
  CAP_SLACK_BYTES,
  frameCap,
  httpBodyCap,
  PRE_WELCOME_MAX_MESSAGE_BYTES,
  preWelcomeLimits,
  type SessionLimits,
} from "./session/limits.ts"
export {
  type Arrival,
  defaultSessionOptions,
  Session,
  type SessionOptions,
  type SessionSnapshot,
  unref,
} from "./session/session.ts"
// transport: the words, the in-memory transport, helpers shared by transports
export { type Corkable, corkPerTick } from "./transport/cork.ts"
export {
  candidateToSignal,
  type IceCandidate,
  localOffer,
  type OfferingPeer,
  remoteCandidates,
  withoutCandidates,
} from "./transport/ice.ts"
export { LatestFrames, type LatestOutlet, type LatestSender, latestPerTick } from "./transport/latest.ts"
export { type MemoryTransport, memoryTransport } from "./transport/memoryTransport.ts"
export { isBuiltInTransportId, isTransportId, transportTraits } from "./transport/traits.ts"
export type {
  Acceptor,
  BuiltInTransportId,
  ClientLinkEvents,
  ClientTransport,
  ConnectionInfo,
  IceServer,
  Link,
  LinkHeaders,
  NegotiationTraits,
  ServerLinkEvents,
  ServerOffer,
  SignalKind,
  Signalling,
  TransportId,
  TransportOffer,
} from "./transport/types.ts"
