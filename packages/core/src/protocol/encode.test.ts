import { describe, expect, it } from "vitest"
import {
  body,
  control,
  dataFrame,
  isAckFrame,
  isEncodedUnreliable,
  isEncodedWelcome,
  unreliableFrame,
} from "./encode.ts"
import { FrameType } from "./frames.ts"

describe("predicates on encoded frames", () => {
  const limits = {
    maxMessageBytes: 1,
    heartbeatIntervalMs: 1,
    heartbeatTimeoutMs: 1,
    resumeWindowMs: 1,
    maxDepth: 1,
  }
  const welcome = control.welcome(1, "t", "s", false, 0, limits)
  const unreliable = unreliableFrame(3, body.item(1, "2"))
  const ack = control.ack(4)
  const result = dataFrame(FrameType.RESULT, 1, body.result(1, "null"))

  it("tells each kind by its head, as the codec writes it", () => {
    expect([welcome, unreliable, ack, result].map(isEncodedWelcome)).toEqual([true, false, false, false])
    expect([welcome, unreliable, ack, result].map(isEncodedUnreliable)).toEqual([false, true, false, false])
    expect([welcome, unreliable, ack, result].map(isAckFrame)).toEqual([false, false, true, false])
  })

  it("does not mistake a type that only starts with the same digits", () => {
    expect(isEncodedWelcome("[2,1,1,null]")).toBe(false)
    expect(isEncodedUnreliable("[2,1,1,null]")).toBe(false)
  })
})
