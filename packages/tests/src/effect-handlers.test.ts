import { createClient } from "@switchyard/client-browser/all"
import { contract, memoryTransport, rpc, type SwitchyardError, stream } from "@switchyard/core"
import { createServer } from "@switchyard/server-node"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import { afterEach, describe, expect, it } from "vitest"
import { testClientOptions } from "./support/harnesses.ts"

const Oops = Schema.Struct({ _tag: Schema.Literal("Oops"), reason: Schema.String })
const Effects = contract({
  rpc: {
    half: rpc({ input: Schema.Struct({ n: Schema.Number }), output: Schema.Number, error: Oops }),
    die: rpc({ input: Schema.Struct({}), output: Schema.Number }),
    slow: rpc({ input: Schema.Struct({}), output: Schema.Number }),
  },
  streams: {
    range: stream({ input: Schema.Struct({ to: Schema.Number }), item: Schema.Number, error: Oops }),
  },
})

const errors: unknown[] = []
let interrupted = 0
const server = () =>
  createServer(
    Effects,
    {
      rpc: {
        half: ({ n }) =>
          n % 2 === 0 ? Effect.succeed(n / 2) : Effect.fail({ _tag: "Oops" as const, reason: `${n} is odd` }),
        die: () => Effect.die(new Error("hidden")),
        slow: () =>
          Effect.sleep("10 seconds").pipe(
            Effect.as(1),
            Effect.onInterrupt(() => Effect.sync(() => interrupted++)),
          ),
      },
      streams: {
        range: ({ to }) =>
          to < 0
            ? Stream.concat(Stream.make(1, 2), Stream.fail({ _tag: "Oops" as const, reason: "negative" }))
            : Stream.range(1, to),
      },
    },
    { onError: (e) => errors.push(e) },
  )

describe("handlers written with Effect", () => {
  const open: Array<() => Promise<void>> = []
  afterEach(async () => {
    for (const close of open.splice(0)) await close()
  })
  const setup = () => {
    const s = server()
    const client = createClient(Effects, {
      url: "memory:",
      transports: [memoryTransport(s.accept)],
      ...testClientOptions,
    })
    open.push(async () => {
      await client.close()
      await s.close()
    })
    return client
  }

  it("runs an Effect RPC to its value, and its typed failure to FAILURE with data", async () => {
    const client = setup()
    expect(await client.rpc.half({ n: 8 })).toBe(4)
    const error = (await client.rpc.half({ n: 3 }).catch((e: SwitchyardError) => e)) as SwitchyardError
    expect(error.code).toBe("FAILURE")
    expect(error.data).toEqual({ _tag: "Oops", reason: "3 is odd" })
  })

  it("hides a defect behind INTERNAL_ERROR and reports it to onError", async () => {
    const client = setup()
    errors.length = 0
    const error = (await client.rpc.die({}).catch((e: SwitchyardError) => e)) as SwitchyardError
    expect(error.code).toBe("INTERNAL_ERROR")
    expect(error.message).not.toContain("hidden")
    expect(errors).toHaveLength(1)
  })

  it("interrupts the Effect when the caller aborts", async () => {
    const client = setup()
    interrupted = 0
    const controller = new AbortController()
    const call = client.rpc.slow({}, { signal: controller.signal })
    await new Promise((r) => setTimeout(r, 30))
    controller.abort()
    expect(((await call.catch((e: SwitchyardError) => e)) as SwitchyardError).code).toBe("CANCELLED")
    await expect.poll(() => interrupted, { timeout: 2000 }).toBe(1)
  })

  it("streams an Effect Stream, and ends it with its typed failure", async () => {
    const client = setup()
    const items: number[] = []
    for await (const n of client.streams.range({ to: 5 })) items.push(n)
    expect(items).toEqual([1, 2, 3, 4, 5])
    const got: number[] = []
    const error = await (async () => {
      for await (const n of client.streams.range({ to: -1 })) got.push(n)
    })().catch((e: SwitchyardError) => e)
    expect(got).toEqual([1, 2])
    expect((error as SwitchyardError).code).toBe("FAILURE")
    expect((error as SwitchyardError).data).toEqual({ _tag: "Oops", reason: "negative" })
  })
})
