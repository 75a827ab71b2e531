// `./router.ts` as the blocks of docs/trpc.md import it: an app's tRPC router, with a user in its context
// and superjson as its transformer (packages/tests/src/support/docBlocks.ts copies it beside the blocks).
import { initTRPC } from "@trpc/server"
import superjson from "superjson"
import { z } from "zod"

export interface User {
  readonly name: string
}

const t = initTRPC.context<{ user: User }>().create({ transformer: superjson })

export const appRouter = t.router({
  greet: t.procedure
    .input(z.object({ name: z.string() }))
    .query(({ input, ctx }) => `hi ${input.name}, ${ctx.user.name}`),
  whoami: t.procedure.query(({ ctx }) => ctx.user),
  onMessage: t.procedure.input(z.object({ room: z.string() })).subscription(async function* ({ input }) {
    yield { room: input.room, text: "hello" }
  }),
})

export type AppRouter = typeof appRouter
