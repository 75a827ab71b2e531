// The page: the app's tRPC client code, with `switchyardLink` as its terminating link in place of
// `httpBatchLink` / `wsLink`. The calls below are tRPC's own (`query`, `mutate`, `subscribe`).
// #region client
import { longPollingTransport, websocketTransport } from "@switchyard/client-browser"
import { switchyardLink } from "@switchyard/trpc/client"
import { createTRPCClient, TRPCClientError } from "@trpc/client"
import type { AppRouter } from "./router.ts"

const link = switchyardLink<AppRouter>({
  // The router is served by the server that served this page, at /switchyard.
  url: new URL("/switchyard", location.href).href,
  // WebSocket first; where a proxy refuses it, long polling over plain HTTP requests.
  transports: [websocketTransport(), longPollingTransport()],
})
const trpc = createTRPCClient<AppRouter>({ links: [link] })
// #endregion client

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T
const status = $<HTMLSpanElement>("status")
const greetForm = $<HTMLFormElement>("greet-form")
const nameInput = $<HTMLInputElement>("name")
const greeting = $<HTMLParagraphElement>("greeting")
const todoForm = $<HTMLFormElement>("todo-form")
const todoInput = $<HTMLInputElement>("todo")
const added = $<HTMLParagraphElement>("added")
const todoList = $<HTMLOListElement>("todos")

/** What a failed call shows: tRPC's own error, its code and message, as over any other link. */
function describe(error: unknown): string {
  if (error instanceof TRPCClientError) {
    const data = error.data as
      | { code?: string; zodError?: { fieldErrors: Record<string, string[] | undefined> } | null }
      | undefined
    const invalid = Object.values(data?.zodError?.fieldErrors ?? {}).flat()
    return `${data?.code ?? "ERROR"}: ${invalid.length > 0 ? invalid.join("; ") : error.message}`
  }
  return String(error)
}

// The Switchyard client under the link: which transport carries the session, and whether it is connected.
function renderStatus(): void {
  status.textContent = link.client.transport ? `${link.client.transport} · ${link.client.state}` : link.client.state
  status.dataset.state = link.client.state
}
link.client.on("state", renderStatus)
link.client.on("transport", renderStatus)
renderStatus()

// #region calls
// A query.
greetForm.addEventListener("submit", async (event) => {
  event.preventDefault()
  try {
    greeting.textContent = await trpc.greeting.query({ name: nameInput.value })
  } catch (error) {
    greeting.textContent = describe(error) // e.g. BAD_REQUEST for an empty name: zod's validation
  }
})

// A mutation. The list below is not touched here: the new todo reaches it through the subscription,
// as it reaches every other open page.
todoForm.addEventListener("submit", async (event) => {
  event.preventDefault()
  try {
    const todo = await trpc.addTodo.mutate({ text: todoInput.value })
    added.textContent = `Added #${todo.id}`
    todoInput.value = ""
  } catch (error) {
    added.textContent = describe(error)
  }
})

// A subscription: every todo, those already there first.
trpc.onTodo.subscribe(undefined, {
  onStarted: () => {
    todoList.dataset.started = "true"
  },
  onData: ({ data: todo }) => {
    const item = document.createElement("li")
    item.textContent = todo.text
    item.dataset.id = String(todo.id)
    todoList.append(item)
  },
  onError: (error) => {
    // Closing the page closes the client, which ends the subscription with an error nobody needs to see.
    if (link.client.state !== "closed") console.warn(`onTodo: ${describe(error)}`)
  },
})
// #endregion calls

addEventListener("pagehide", () => void link.client.close())
