import { describe, expect, it } from "vitest"
import {
  closeCodeOf,
  codeOfClose,
  errorCodes,
  httpStatusOf,
  isErrorCode,
  isHttpRefusalCode,
  SessionError,
  switchyardError,
} from "./errors.ts"

describe("errorCodes", () => {
  it("keeps the HTTP refusals apart from the codes of a SwitchyardError", () => {
    for (const code of ["UNAUTHORIZED", "TOO_MANY_CONNECTIONS", "UNKNOWN_TRANSPORT", "LINK_GONE"]) {
      expect(isHttpRefusalCode(code)).toBe(true)
      expect(isErrorCode(code)).toBe(false)
    }
    expect(isHttpRefusalCode("SERVER_CLOSED")).toBe(false)
    expect(isErrorCode("SERVER_CLOSED")).toBe(true)
    expect(isErrorCode("toString")).toBe(false)
    expect(isHttpRefusalCode("__proto__")).toBe(false)
  })

  it("gives each code an HTTP answer has its status", () => {
    expect(httpStatusOf("UNAUTHORIZED")).toBe(401)
    expect(httpStatusOf("ORIGIN_FORBIDDEN")).toBe(403)
    expect(httpStatusOf("NOT_FOUND")).toBe(404)
    expect(httpStatusOf("METHOD_NOT_ALLOWED")).toBe(405)
    expect(httpStatusOf("LINK_GONE")).toBe(410)
    expect(httpStatusOf("MESSAGE_TOO_LARGE")).toBe(413)
    expect(httpStatusOf("UPGRADE_REQUIRED")).toBe(426)
    expect(httpStatusOf("TOO_MANY_CONNECTIONS")).toBe(429)
    expect(httpStatusOf("SERVER_CLOSED")).toBe(503)
    expect(httpStatusOf("UNKNOWN_TRANSPORT")).toBe(400)
    expect(httpStatusOf("INVALID_FRAME")).toBe(400)
    expect(httpStatusOf("LINK_BUSY")).toBe(409)
    expect(httpStatusOf("SERVER_BUSY")).toBe(503)
    expect(httpStatusOf("READ_TIMEOUT")).toBe(408)
  })

  it("gives the bounds on what is being read a close code, and keeps LINK_BUSY an HTTP refusal", () => {
    expect(closeCodeOf("SERVER_BUSY")).toBe(1013)
    expect(closeCodeOf("READ_TIMEOUT")).toBe(4212)
    expect(isErrorCode("SERVER_BUSY")).toBe(true)
    expect(isHttpRefusalCode("LINK_BUSY")).toBe(true)
    expect(errorCodes.READ_TIMEOUT).toEqual({ layer: "session", close: 4212, http: 408 })
  })

  it("maps close codes both ways as before", () => {
    expect(closeCodeOf("SLOW_CONSUMER")).toBe(4205)
    expect(codeOfClose(1008)).toBe("ORIGIN_FORBIDDEN")
    expect(codeOfClose(4999)).toBe("CONNECTION_LOST")
    expect(switchyardError("SESSION_LOST", "gone")).toBeInstanceOf(SessionError)
    const layers = new Set(Object.values(errorCodes).map((entry) => entry.layer))
    expect([...layers].sort()).toEqual(["contract", "http", "protocol", "session"])
  })

  it("gives the refusals of a HELLO a close code and the status of a refused opening POST", () => {
    expect(closeCodeOf("TOO_MANY_SESSIONS")).toBe(4209)
    expect(closeCodeOf("RATE_LIMITED")).toBe(4210)
    expect(codeOfClose(4209)).toBe("TOO_MANY_SESSIONS")
    expect(codeOfClose(4210)).toBe("RATE_LIMITED")
    expect(httpStatusOf("TOO_MANY_SESSIONS")).toBe(429)
    expect(httpStatusOf("RATE_LIMITED")).toBe(429)
    expect(httpStatusOf("LIMIT_EXCEEDED")).toBe(503)
    expect(isErrorCode("RATE_LIMITED")).toBe(true)
    expect(isHttpRefusalCode("TOO_MANY_SESSIONS")).toBe(false)
    expect(switchyardError("RATE_LIMITED", "slow down")).toBeInstanceOf(SessionError)
  })
})
