import type { FrameType } from "./frameType.ts"

/**
 * `@switchyard/core/frame-numbers`: each frame type's number as a plain constant, typed by its `FrameType`
 * member so that the two cannot drift. What runs in a client reads these rather than `FrameType.X`
 * (`import * as Frame from …`, then `Frame.ACK`): esbuild inlines a constant exported by a module, from
 * the sources and from the compiled `dist` alike (other bundlers keep one short `const`), while
 * `FrameType` compiles to an object that a bundle keeps whole and reads at run time
 * (docs/performance.md#bundle-size).
 */
export const CALL: FrameType.CALL = 1
export const RESULT: FrameType.RESULT = 2
export const ERROR: FrameType.ERROR = 3
export const STREAM: FrameType.STREAM = 4
export const ITEM: FrameType.ITEM = 5
export const END: FrameType.END = 6
export const CANCEL: FrameType.CANCEL = 7
export const CREDIT: FrameType.CREDIT = 8
export const SUBSCRIBE: FrameType.SUBSCRIBE = 9
export const UNSUBSCRIBE: FrameType.UNSUBSCRIBE = 10
export const PUBLISH: FrameType.PUBLISH = 11
export const MESSAGE: FrameType.MESSAGE = 12
export const SIGNAL: FrameType.SIGNAL = 13
export const PEER: FrameType.PEER = 14
export const PRESENCE: FrameType.PRESENCE = 15
export const PRESENCE_EVENT: FrameType.PRESENCE_EVENT = 16
export const HELLO: FrameType.HELLO = 20
export const WELCOME: FrameType.WELCOME = 21
export const ACK: FrameType.ACK = 22
export const PING: FrameType.PING = 23
export const PONG: FrameType.PONG = 24
export const NOTICE: FrameType.NOTICE = 25
export const BYE: FrameType.BYE = 26
export const PROBE: FrameType.PROBE = 27
export const UNRELIABLE: FrameType.UNRELIABLE = 28
