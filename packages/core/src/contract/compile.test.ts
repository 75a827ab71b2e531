import * as Schema from "effect/Schema"
import { describe, expect, it } from "vitest"
import { compileContract, prepareContract, usesEffectSchemas } from "./compile.ts"
import { contract, rpc } from "./contract.ts"
import { hasEffectCodec, isEffectSchema } from "./payloadCodec.ts"
import type { StandardSchemaV1 } from "./standardSchema.ts"

const text: StandardSchemaV1<string> = {
  "~standard": {
    version: 1,
    vendor: "test",
    validate: (v) => (typeof v === "string" ? { value: v } : { issues: [{ message: "not a string" }] }),
  },
}
const Plain = contract({ rpc: { echo: rpc({ input: text, output: text }) } })
const Rich = contract({ rpc: { at: rpc({ input: Schema.Date, output: Schema.String }) } })

// In this order: the Effect codec is registered once per process, by the last test.
describe("the Effect codec, loaded only for contracts that need it", () => {
  it("tells Effect schemas by their shape", () => {
    expect(isEffectSchema(Schema.String)).toBe(true)
    expect(isEffectSchema(Schema.Struct({ a: Schema.Number }))).toBe(true)
    expect(isEffectSchema(text)).toBe(false)
    expect(isEffectSchema(null)).toBe(false)
    expect(usesEffectSchemas(Rich)).toBe(true)
    expect(usesEffectSchemas(Plain)).toBe(false)
  })

  it("compiles a contract of Standard Schemas with nothing loaded, and prepareContract loads nothing for it", async () => {
    expect(compileContract(Plain).rpc.get("echo")?.input.encode("hi")).toEqual({ ok: true, value: "hi" })
    await prepareContract(Plain)
    expect(hasEffectCodec()).toBe(false)
  })

  it("refuses an Effect contract before the codec is loaded, saying what to do", () => {
    expect(() => compileContract(Rich)).toThrow(TypeError)
    expect(() => compileContract(Rich)).toThrow(/await prepareContract\(contract\)/)
  })

  it("compiles it once prepareContract has loaded the codec", async () => {
    await prepareContract(Rich)
    expect(hasEffectCodec()).toBe(true)
    expect(compileContract(Rich).rpc.get("at")?.input.encode(new Date(0))).toEqual({
      ok: true,
      value: "1970-01-01T00:00:00.000Z",
    })
  })
})
