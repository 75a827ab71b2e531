import { initTRPC } from "@trpc/server"
import { describe, expectTypeOf, it } from "vitest"
import { createTrpcServer } from "./server.ts"

const t = initTRPC.context<{ user: string }>().create()
const router = t.router({ whoami: t.procedure.query(({ ctx }) => ctx.user) })

describe("createTrpcServer's options", () => {
  it("require createContext when the router's context has required fields, as tRPC's adapters do", () => {
    // @ts-expect-error createContext is missing: procedures would get {}
    createTrpcServer(router, {})
    // @ts-expect-error the context it makes is not the router's
    createTrpcServer(router, { createContext: () => ({ user: 1 }) })
    createTrpcServer(router, { createContext: () => ({ user: "ada" }) })
    const plain = initTRPC.create()
    createTrpcServer(plain.router({ ok: plain.procedure.query(() => "ok") }), {})
  })

  it("give createContext what authenticate returned, typed", () => {
    createTrpcServer(router, {
      authenticate: () => ({ id: "u1" }),
      createContext: ({ auth, sessionId, transport, info }) => {
        expectTypeOf(auth).toEqualTypeOf<{ id: string }>()
        expectTypeOf(sessionId).toEqualTypeOf<string>()
        expectTypeOf(transport).toEqualTypeOf<string>()
        expectTypeOf(info.type).toEqualTypeOf<"query" | "mutation" | "subscription">()
        return { user: auth.id }
      },
      onProcedureError: ({ error, auth }) => {
        expectTypeOf(error.code).toBeString()
        expectTypeOf(auth).toEqualTypeOf<{ id: string }>()
      },
    })
  })
})
