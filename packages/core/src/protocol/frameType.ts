/**
 * Every frame type by name: the protocol's vocabulary (frames.ts lays out each frame, docs/protocol.md is
 * normative). In a module of its own, apart from what runs in a client: a TypeScript enum compiles to an
 * object that bundlers keep whenever its module is in the bundle, used or not, and they cannot inline its
 * members from the compiled `dist`. Code that runs in the client uses frameNumbers.ts, whose plain
 * constants a bundler inlines (or keeps as one short `const` each), and this enum only as a type
 * (docs/performance.md#bundle-size).
 */
export enum FrameType {
  CALL = 1,
  RESULT = 2,
  ERROR = 3,
  STREAM = 4,
  ITEM = 5,
  END = 6,
  CANCEL = 7,
  CREDIT = 8,
  SUBSCRIBE = 9,
  UNSUBSCRIBE = 10,
  PUBLISH = 11,
  MESSAGE = 12,
  SIGNAL = 13,
  PEER = 14,
  PRESENCE = 15,
  PRESENCE_EVENT = 16,
  HELLO = 20,
  WELCOME = 21,
  ACK = 22,
  PING = 23,
  PONG = 24,
  NOTICE = 25,
  BYE = 26,
  PROBE = 27,
  UNRELIABLE = 28,
}
