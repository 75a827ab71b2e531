// The page: a member of the board, through the balancer. Nothing here knows there are several nodes,
// except the line that shows which one holds the session and the demo's "Stop" button.
import { createClient } from "@switchyard/client-browser/all"
import type { Client } from "@switchyard/core"
import { Board, type Note } from "./contract.ts"

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T
const joinForm = $<HTMLFormElement>("join-form")
const nameInput = $<HTMLInputElement>("name")
const boardView = $<HTMLElement>("board")
const status = $<HTMLSpanElement>("status")
const nodeName = $<HTMLElement>("node")
const stopButton = $<HTMLButtonElement>("stop")
const notes = $<HTMLOListElement>("notes")
const members = $<HTMLUListElement>("members")
const postForm = $<HTMLFormElement>("post-form")
const textInput = $<HTMLInputElement>("text")

let node: string | undefined

function join(name: string): void {
  // #region page
  const client: Client<Board> = createClient(Board, {
    url: new URL("/switchyard", location.href).href,
    transports: ["websocket", "long-polling"],
    auth: { params: { name } },
  })
  const here = new Map<string, string>() // session id → name, on every node
  const lobby = client.topics.board("lobby")
  const off = lobby.subscribe(showNote, {
    presence: {
      join: (m) => {
        here.set(m.id, m.data.name)
        showMembers(here)
      },
      leave: (m) => {
        here.delete(m.id)
        showMembers(here)
      },
    },
  })
  // After each handshake (the first, a resume on another node, …): which node holds the session now.
  client.on("transport", async (transport, reason) => {
    node = await client.rpc.whereAmI({})
    showNode(`${transport} · ${reason}`)
  })
  // #endregion page
  void off.ready.then(() => {
    boardView.dataset.ready = "true"
  })
  client.on("state", (state) => {
    status.dataset.state = state
    if (state !== "connected") status.textContent = state
  })
  postForm.addEventListener("submit", (event) => {
    event.preventDefault()
    const text = textInput.value.trim()
    if (!text) return
    textInput.value = ""
    void client.rpc.post({ board: "lobby", text }).catch((error) => console.warn(String(error)))
  })
  addEventListener("pagehide", () => void client.close())
}

function showNote(note: Note): void {
  const item = document.createElement("li")
  const via = Object.assign(document.createElement("small"), { textContent: ` via node ${note.node}` })
  item.append(Object.assign(document.createElement("b"), { textContent: note.author }), `: ${note.text}`, via)
  notes.append(item)
}

function showMembers(here: ReadonlyMap<string, string>): void {
  const names = [...here.values()].sort()
  members.replaceChildren(...names.map((who) => Object.assign(document.createElement("li"), { textContent: who })))
}

function showNode(how: string): void {
  status.textContent = how
  status.dataset.state = "connected"
  nodeName.textContent = node ?? "?"
  stopButton.textContent = `Stop node ${node}`
  stopButton.disabled = false
}

// The demo's button: asks the cluster to stop the node holding this session. The session moves.
stopButton.addEventListener("click", () => {
  stopButton.disabled = true
  void fetch(`/demo/stop?node=${encodeURIComponent(node ?? "")}`, { method: "POST" })
})

joinForm.addEventListener("submit", (event) => {
  event.preventDefault()
  const name = nameInput.value.trim()
  if (!name) return
  joinForm.hidden = true
  boardView.hidden = false
  $<HTMLElement>("me").textContent = name
  join(name)
})
