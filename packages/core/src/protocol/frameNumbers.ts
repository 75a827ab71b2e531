import type { FrameType } from "./frameType.ts"

/**
 * `@switchyard/core/frame-numbers`: each frame type's number as a plain constant, typed by its `FrameType`
 * member so that the two cannot drift. What runs in a client reads these rather than `FrameType.X`
 * (`import * as Frame from …`, then `Frame.ACK`): esbuild inlines a constant exported by a module, from
 * the sources and from the compiled `dist` alike (other bundlers keep one short `const`), while
 * `FrameType` compiles to an object that a bundle keeps whole and reads at run time
 * (docs/performance.md#bundle-size).
 *
 * @module
 */

/** The number of CALL frames, `FrameType.CALL`. */
export const CALL: FrameType.CALL = 1
/** The number of RESULT frames, `FrameType.RESULT`. */
export const RESULT: FrameType.RESULT = 2
/** The number of ERROR frames, `FrameType.ERROR`. */
export const ERROR: FrameType.ERROR = 3
/** The number of STREAM frames, `FrameType.STREAM`. */
export const STREAM: FrameType.STREAM = 4
/** The number of ITEM frames, `FrameType.ITEM`. */
export const ITEM: FrameType.ITEM = 5
/** The number of END frames, `FrameType.END`. */
export const END: FrameType.END = 6
/** The number of CANCEL frames, `FrameType.CANCEL`. */
export const CANCEL: FrameType.CANCEL = 7
/** The number of CREDIT frames, `FrameType.CREDIT`. */
export const CREDIT: FrameType.CREDIT = 8
/** The number of SUBSCRIBE frames, `FrameType.SUBSCRIBE`. */
export const SUBSCRIBE: FrameType.SUBSCRIBE = 9
/** The number of UNSUBSCRIBE frames, `FrameType.UNSUBSCRIBE`. */
export const UNSUBSCRIBE: FrameType.UNSUBSCRIBE = 10
/** The number of PUBLISH frames, `FrameType.PUBLISH`. */
export const PUBLISH: FrameType.PUBLISH = 11
/** The number of MESSAGE frames, `FrameType.MESSAGE`. */
export const MESSAGE: FrameType.MESSAGE = 12
/** The number of SIGNAL frames, `FrameType.SIGNAL`. */
export const SIGNAL: FrameType.SIGNAL = 13
/** The number of PEER frames, `FrameType.PEER`. */
export const PEER: FrameType.PEER = 14
/** The number of PRESENCE frames, `FrameType.PRESENCE`. */
export const PRESENCE: FrameType.PRESENCE = 15
/** The number of PRESENCE_EVENT frames, `FrameType.PRESENCE_EVENT`. */
export const PRESENCE_EVENT: FrameType.PRESENCE_EVENT = 16
/** The number of HELLO frames, `FrameType.HELLO`. */
export const HELLO: FrameType.HELLO = 20
/** The number of WELCOME frames, `FrameType.WELCOME`. */
export const WELCOME: FrameType.WELCOME = 21
/** The number of ACK frames, `FrameType.ACK`. */
export const ACK: FrameType.ACK = 22
/** The number of PING frames, `FrameType.PING`. */
export const PING: FrameType.PING = 23
/** The number of PONG frames, `FrameType.PONG`. */
export const PONG: FrameType.PONG = 24
/** The number of NOTICE frames, `FrameType.NOTICE`. */
export const NOTICE: FrameType.NOTICE = 25
/** The number of BYE frames, `FrameType.BYE`. */
export const BYE: FrameType.BYE = 26
/** The number of PROBE frames, `FrameType.PROBE`. */
export const PROBE: FrameType.PROBE = 27
/** The number of UNRELIABLE frames, `FrameType.UNRELIABLE`. */
export const UNRELIABLE: FrameType.UNRELIABLE = 28
