import { createClient } from "@switchyard/client-browser/all"
import { peers } from "@switchyard/client-browser/peers"
import type { PeerConnection } from "@switchyard/core"
import { Arena, type Player } from "./contract.ts"
import { draw } from "./draw.ts"
import { glide, HEIGHT, near, type Point, starOf, startOf, WIDTH } from "./game.ts"

// #region client
const client = createClient(Arena, {
  url: new URL("/switchyard", location.href).href,
  // The session with the server only seats the player and introduces the two browsers: WebSocket, or
  // long polling where WebSocket does not get through.
  transports: ["websocket", "long-polling"],
  // Opts in to client↔client connections (a client without it ships none of that code): the game's
  // traffic goes between the two browsers, over WebRTC data channels.
  peers: peers(),
})
// #endregion client
client.on("error", (error) => console.warn(`[switchyard] ${error.code}: ${error.message}`))
addEventListener("pagehide", () => void client.close())

const match = location.hash.slice(1) || "arena"
const board = document.getElementById("board") as HTMLCanvasElement
const scores: Record<Player, number> = { 1: 0, 2: 0 }
const events: string[] = []
let player: Player | undefined
let me: Point | undefined
let target: Point | undefined
let opponent: Point | undefined
let sent = 0
let received = 0

// #region peer
let peer: PeerConnection<Arena["peers"]> | undefined

/** The other player's connection, whichever side opened it: positions and score events come and go on it. */
function play(conn: PeerConnection<Arena["peers"]>): void {
  peer = conn
  // Positions arrive latest-wins: any one may be skipped, none arrives after a newer one.
  conn.channels.position.subscribe(({ x, y }) => {
    received += 1
    opponent = { x, y }
  })
  conn.channels.scored.subscribe(({ player, star }) => {
    scores[player] = star // the star's number is that player's score: nothing to add up, nothing to double
    events.push(`P${player}★${star}`)
  })
  conn.on("close", () => {
    if (peer === conn) [peer, opponent] = [undefined, undefined]
  })
}

// Registered before joining: the second player to join connects to the first.
client.peers.onConnection(play)
// #endregion peer

// #region send-positions
/**
 * Sends the dot's position to the other player. An unreliable peer message is never sent again nor held
 * for a slow player: on the direct path it goes once on the unordered channel, and on the relay the
 * server drops it while the other player is not keeping up. So the game loop can send at its own rate.
 */
function sendPosition(conn: PeerConnection<Arena["peers"]>, position: Point): void {
  sent += 1
  try {
    conn.channels.position.send(position)
  } catch {
    // the connection closed (the other player left): nobody to tell
  }
}
// #endregion send-positions

async function join(): Promise<void> {
  await new Promise<void>((resolve) => {
    if (client.peers.id !== undefined) return resolve()
    const off = client.on("state", () => {
      if (client.peers.id === undefined) return
      off()
      resolve()
    })
  })
  // #region join
  const seat = await client.rpc.join({ match, peerId: client.peers.id as string })
  if (seat.opponent !== null) play(await client.peers.connect(seat.opponent))
  // #endregion join
  player = seat.player
  me = startOf(seat.player)
}

board.addEventListener("pointerdown", (event) => {
  const box = board.getBoundingClientRect()
  target = { x: ((event.clientX - box.left) / box.width) * WIDTH, y: ((event.clientY - box.top) / box.height) * HEIGHT }
})

const RESEND_MS = 250
let lastSent = 0
let last = performance.now()
/** The game loop, 60 times a second: move, score, send, draw. */
function tick(): void {
  const now = performance.now()
  const seconds = Math.min(0.1, (now - last) / 1000)
  last = now
  if (player !== undefined && me !== undefined && peer !== undefined) {
    // #region loop
    const moved = target ? glide(me, target, seconds) : me
    // A position goes out on every move, and at least every RESEND_MS standing still: an unreliable
    // channel keeps no history and may drop any message, so a player who just connected, or whose last
    // update was lost, sees our dot at most RESEND_MS late.
    if (moved.x !== me.x || moved.y !== me.y || now - lastSent >= RESEND_MS) {
      me = moved
      lastSent = now
      sendPosition(peer, me)
    }
    // #endregion loop
    // #region score
    if (near(me, starOf(player, scores[player] + 1))) {
      scores[player] += 1
      try {
        peer.channels.scored.send({ player, star: scores[player] })
      } catch (error) {
        console.warn("the point could not be sent (the connection closed?)", error)
      }
    }
    // #endregion score
  }
  render()
}
setInterval(tick, 1000 / 60)

function render(): void {
  const opponentOf = player === 1 ? 2 : 1
  draw(board, {
    player,
    me,
    opponent: peer ? opponent : undefined,
    stars: player === undefined ? [] : [starOf(player, scores[player] + 1), starOf(opponentOf, scores[opponentOf] + 1)],
  })
  const who = document.getElementById("who") as HTMLElement
  who.textContent = player === undefined ? "" : `· you are P${player}`
  who.className = player === 1 ? "p1" : "p2"
  const score = document.getElementById("score") as HTMLElement
  score.innerHTML = `<span class="p1">P1 ${scores[1]}</span> · <span class="p2">P2 ${scores[2]}</span>`
  ;(document.getElementById("status") as HTMLElement).textContent = peer
    ? `${client.transport} · peer ${peer.path}`
    : player === undefined
      ? `${client.transport ?? "connecting"} · joining #${match}`
      : `${client.transport} · waiting for a player in #${match}`
  ;(document.getElementById("stats") as HTMLElement).textContent = `positions sent ${sent} · received ${received}`
  const list = document.getElementById("events") as HTMLOListElement
  if (list.children.length !== events.length)
    list.replaceChildren(...events.map((e) => Object.assign(document.createElement("li"), { textContent: e })))
  // For the tests and the curious: the state the page shows, as data attributes.
  Object.assign(document.body.dataset, {
    player: player ?? "",
    transport: client.transport ?? "",
    path: peer?.path ?? "",
    me: me ? `${Math.round(me.x)},${Math.round(me.y)}` : "",
    opponent: opponent && peer ? `${Math.round(opponent.x)},${Math.round(opponent.y)}` : "",
    scores: `${scores[1]},${scores[2]}`,
    events: events.join(" "),
    sent: String(sent),
    received: String(received),
  })
}

join().catch((error: unknown) => {
  ;(document.getElementById("status") as HTMLElement).textContent = `could not join: ${String(error)}`
  console.warn(error)
})
