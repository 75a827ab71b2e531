import { createClient } from "@switchyard/client-browser/all"
import { isFailure, type SwitchyardError } from "@switchyard/core"
import { webrtcTransport } from "@switchyard/webrtc-data"
import * as Schema from "effect/Schema"
import { Chat, type JoinRefused, type Message, MessageText, RoomName, UserName } from "./contract.ts"

// #region client
// The transport lives on the server that served this page, so the URL follows the page's own origin.
// Every built-in transport, and WebRTC on top: the session starts on long polling and moves up.
const client = createClient(Chat, {
  url: new URL("/switchyard", location.href).href,
  transports: [webrtcTransport(), "websocket", "sse", "long-polling", "polling"],
})
// #endregion client

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T
const badge = $<HTMLSpanElement>("badge")
const badgeText = $<HTMLSpanElement>("badge-text")
const joinForm = $<HTMLFormElement>("join-form")
const nameInput = $<HTMLInputElement>("name")
const roomInput = $<HTMLInputElement>("room")
const joinError = $<HTMLParagraphElement>("join-error")
const chat = $<HTMLElement>("chat")
const roomTitle = $<HTMLSpanElement>("room-title")
const messages = $<HTMLOListElement>("messages")
const online = $<HTMLUListElement>("online")
const onlineCount = $<HTMLSpanElement>("online-count")
const sendForm = $<HTMLFormElement>("send-form")
const textInput = $<HTMLInputElement>("text")
const sendError = $<HTMLParagraphElement>("send-error")
const leaveButton = $<HTMLButtonElement>("leave")

// ---- connection badge: the transport in use and the connection state ----

// #region badge
function renderBadge(): void {
  badge.dataset.state = client.state
  document.body.dataset.state = client.state
  badgeText.textContent = client.transport ? `${client.transport} · ${client.state}` : client.state
}
client.on("transport", renderBadge)
client.on("state", renderBadge)
client.on("error", (error) => console.warn(`[switchyard] ${error.code}: ${error.message}`))
renderBadge()
// #endregion badge

// #region goodbye
// Say goodbye when the tab goes away: the server ends the session at once (and the user leaves the
// room) instead of keeping it for the resume window.
addEventListener("pagehide", () => void client.close())
// A page restored from the back/forward cache has a closed client; start over.
addEventListener("pageshow", (event) => {
  if (event.persisted) location.reload()
})
// #endregion goodbye

// ---- being in a room ----

// #region enter
interface Membership {
  readonly room: string
  readonly user: string
  /** Who is online: session id → name, from the room's presence (every node's members). */
  readonly members: Map<string, string>
  readonly unsubscribe: Array<() => void>
}

let current: Membership | undefined

function enter(room: string, user: string): void {
  leave()
  const membership: Membership = { room, user, members: new Map(), unsubscribe: [] }
  current = membership
  messages.replaceChildren()
  renderOnline()
  roomTitle.textContent = `#${room}`
  history.replaceState(null, "", `#${room}`)
  localStorage.setItem("switchyard-chat:name", user)
  membership.unsubscribe.push(client.topics.room(room).subscribe((message) => addMessages([message])))
  void stayIn(membership)
}
// #endregion enter

// #region stay-in
/**
 * Claims the name (`join`), then subscribes to `online(room)`: being listed there is being in the room,
 * on whichever node our session lives. If the session is lost (the server restarted, or we were away
 * past its resume window), the renewed subscription is refused (the new session claimed nothing): claim
 * again and subscribe again. Joins and leaves keep the online list; the members already there arrive as
 * joins at once, and only later ones are written in the log.
 */
async function stayIn(membership: Membership, attempt = 0): Promise<void> {
  const { room, user, members } = membership
  if (attempt >= 2) await new Promise((resolve) => setTimeout(resolve, Math.min(250 * 2 ** (attempt - 2), 5000)))
  if (current !== membership) return
  // Messages sent while we had no session are not replayed by the topic; the room's history has them.
  void client.rpc.history({ room }).then((list) => current === membership && addMessages(list), noop)
  try {
    await client.rpc.join({ room, user })
  } catch (error) {
    if (current !== membership) return
    if (isFailure<JoinRefused>(error)) {
      leave()
      return showJoinForm(
        error.data._tag === "NameTaken"
          ? `“${error.data.user}” is already in #${room}; pick another name.`
          : `You are already in #${room} as “${error.data.user}”.`,
      )
    }
    online.classList.add("stale")
    return stayIn(membership, attempt + 1)
  }
  if (current !== membership) return
  let live = false
  const off = client.topics.online(room).subscribe(noop, {
    presence: {
      join: (member) => {
        members.set(member.id, member.data.user)
        renderOnline()
        if (live) addPresence(member.data.user, "joined")
        // The members already there are told in one go, as the list arrives.
        else queueMicrotask(() => (live = true))
      },
      leave: (member) => {
        members.delete(member.id)
        renderOnline()
        addPresence(member.data.user, "left")
      },
    },
    onError: () => {
      if (current !== membership) return
      membership.unsubscribe.splice(membership.unsubscribe.indexOf(off), 1)
      online.classList.add("stale")
      void stayIn(membership, attempt + 1)
    },
  })
  membership.unsubscribe.push(off)
  showChat()
}

function leave(): void {
  const membership = current
  if (!membership) return
  current = undefined
  for (const off of membership.unsubscribe) off()
}
// #endregion stay-in

// ---- rendering ----

const timeFormat = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" })

// #region add-messages
/** Adds messages in id order, skipping ones already shown (history and live messages overlap). */
function addMessages(list: readonly Message[]): void {
  const stick = nearBottom()
  for (const message of list) {
    if (messages.querySelector(`[data-id="${message.id}"]`)) continue
    const li = line("message", message.at)
    li.dataset.id = String(message.id)
    if (message.user === current?.user) li.classList.add("mine")
    li.append(el("b", message.user), el("span", message.text))
    const later = [...messages.querySelectorAll<HTMLLIElement>("[data-id]")].find(
      (m) => Number(m.dataset.id) > message.id,
    )
    messages.insertBefore(li, later ?? null)
  }
  if (stick) messages.scrollTop = messages.scrollHeight
}
// #endregion add-messages

function addPresence(user: string, kind: "joined" | "left"): void {
  const stick = nearBottom()
  const li = line("presence", new Date())
  li.append(el("span", `${user} ${kind}`))
  messages.append(li)
  if (stick) messages.scrollTop = messages.scrollHeight
}

function line(kind: string, at: Date): HTMLLIElement {
  const li = el("li", "")
  li.className = kind
  const time = el("time", timeFormat.format(at))
  time.dateTime = at.toISOString()
  li.append(time)
  return li
}

function renderOnline(): void {
  const users = [...(current?.members.values() ?? [])].sort((a, b) => a.localeCompare(b))
  online.classList.remove("stale")
  online.replaceChildren(
    ...users.map((user) => {
      const li = el("li", user)
      if (user === current?.user) li.classList.add("me")
      return li
    }),
  )
  onlineCount.textContent = users.length > 0 ? String(users.length) : ""
}

function el<K extends keyof HTMLElementTagNameMap>(tag: K, text: string): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag)
  node.textContent = text
  return node
}

function nearBottom(): boolean {
  return messages.scrollHeight - messages.scrollTop - messages.clientHeight < 40
}

function showChat(): void {
  if (!chat.hidden) return
  joinForm.hidden = true
  chat.hidden = false
  textInput.focus()
}

function showJoinForm(error = ""): void {
  chat.hidden = true
  joinForm.hidden = false
  roomTitle.textContent = ""
  joinError.textContent = error
  nameInput.focus()
}

// ---- forms ----

// #region validate
/** The schema's own message for a bad value, so the page and the server agree on what is valid. */
function problem(schema: Schema.Codec<string, string>, value: string): string | undefined {
  const result = Schema.decodeUnknownResult(schema)(value)
  return result._tag === "Failure" ? result.failure.message : undefined
}

joinForm.addEventListener("submit", (event) => {
  event.preventDefault()
  const user = nameInput.value.trim()
  const room = roomInput.value.trim().toLowerCase()
  const why = problem(UserName, user) ?? problem(RoomName, room)
  joinError.textContent = why ?? ""
  if (!why) enter(room, user)
})
// #endregion validate

// #region send
sendForm.addEventListener("submit", (event) => {
  event.preventDefault()
  const membership = current
  const text = textInput.value
  if (!membership || text.trim() === "") return
  const why = problem(MessageText, text)
  sendError.textContent = why ?? ""
  if (why) return
  textInput.value = ""
  client.rpc.say({ room: membership.room, text }).catch((error: SwitchyardError) => {
    if (textInput.value === "") textInput.value = text
    sendError.textContent = error.code === "FAILURE" ? "Not in the room right now; rejoining…" : error.message
  })
})
// #endregion send

leaveButton.addEventListener("click", () => {
  leave()
  history.replaceState(null, "", location.pathname)
  showJoinForm()
})

addEventListener("hashchange", () => {
  const room = location.hash.slice(1)
  if (current && room !== current.room && !problem(RoomName, room)) enter(room, current.user)
})

// A shared link (`/#room`) plus a name used before joins straight away.
const savedName = localStorage.getItem("switchyard-chat:name") ?? ""
const linkedRoom = location.hash.slice(1)
nameInput.value = savedName
roomInput.value = problem(RoomName, linkedRoom) ? "lobby" : linkedRoom
if (savedName && !problem(UserName, savedName) && !problem(RoomName, linkedRoom)) enter(linkedRoom, savedName)
else showJoinForm()

function noop(): void {}
