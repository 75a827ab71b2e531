// The tRPC app as it was before Switchyard: a plain tRPC v11 router with a query, a mutation and a
// subscription. Nothing in this file knows about Switchyard, and nothing in it changed for it.
// #region router
import { EventEmitter, on } from "node:events"
import { initTRPC, tracked } from "@trpc/server"
import { ZodError, z } from "zod"

export interface Todo {
  readonly id: number
  readonly text: string
}

const t = initTRPC.create({
  // The usual tRPC recipe: input validation errors carry zod's messages by field.
  errorFormatter: ({ shape, error }) => ({
    ...shape,
    data: { ...shape.data, zodError: error.cause instanceof ZodError ? z.flattenError(error.cause) : null },
  }),
})

/** A router with its own in-memory list of todos. */
export function createAppRouter() {
  const todos: Todo[] = []
  const added = new EventEmitter()

  return t.router({
    greeting: t.procedure
      .input(z.object({ name: z.string().trim().min(1, "say who you are").max(40) }))
      .query(({ input }) => `Hello, ${input.name}!`),

    addTodo: t.procedure
      .input(z.object({ text: z.string().trim().min(1, "say what to do").max(100) }))
      .mutation(({ input }) => {
        const todo: Todo = { id: todos.length + 1, text: input.text }
        todos.push(todo)
        added.emit("todo", todo)
        return todo
      }),

    // Every todo: those already there, then each one added. `tracked()` gives each its id, which a
    // client that lost its place sends back as `lastEventId`.
    onTodo: t.procedure
      .input(z.object({ lastEventId: z.string().nullish() }).optional())
      .subscription(async function* ({ input, signal }) {
        const live = on(added, "todo", { signal })
        const after = Number(input?.lastEventId ?? 0)
        for (const todo of todos.filter((todo) => todo.id > after)) yield tracked(String(todo.id), todo)
        for await (const [todo] of live) yield tracked(String(todo.id), todo as Todo)
      }),
  })
}

export type AppRouter = ReturnType<typeof createAppRouter>
// #endregion router
