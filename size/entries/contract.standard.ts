// A contract on hand-written Standard Schemas (no schema library): what an app that brings its own
// validation ships.
import { contract, rpc, type StandardSchemaV1, stream, topic } from "@switchyard/core"

function schema<T>(check: (value: unknown) => value is T, what: string): StandardSchemaV1<T, T> {
  return {
    "~standard": {
      version: 1,
      vendor: "size",
      validate: (value) => (check(value) ? { value } : { issues: [{ message: `expected ${what}` }] }),
    },
  }
}

const num = schema((v): v is number => typeof v === "number", "a number")
const pair = schema(
  (v): v is { a: number; b: number } =>
    typeof v === "object" && v !== null && typeof (v as { a?: unknown }).a === "number",
  "{ a, b }",
)
const text = schema((v): v is { user: string; text: string } => typeof v === "object" && v !== null, "a message")

export const Chat = contract({
  rpc: { add: rpc({ input: pair, output: num }) },
  streams: { countdown: stream({ input: num, item: num }) },
  topics: { room: topic({ message: text }) },
})
