import type { Player } from "./contract.ts"
import { HEIGHT, type Point, WIDTH } from "./game.ts"

const COLORS: Record<Player, string> = { 1: "#0b6bcb", 2: "#c2410c" }

export interface Scene {
  readonly player: Player | undefined
  readonly me: Point | undefined
  readonly opponent: Point | undefined
  /** This player's next star, then the other's. */
  readonly stars: readonly Point[]
}

/** Draws the board: a grid, each player's next star, and both dots (ours with a ring). */
export function draw(canvas: HTMLCanvasElement, scene: Scene): void {
  const g = canvas.getContext("2d")
  if (!g) return
  g.clearRect(0, 0, WIDTH, HEIGHT)
  g.strokeStyle = "#eef0f3"
  for (let x = 40; x < WIDTH; x += 40) line(g, x, 0, x, HEIGHT)
  for (let y = 40; y < HEIGHT; y += 40) line(g, 0, y, WIDTH, y)
  if (scene.player === undefined) return
  const other: Player = scene.player === 1 ? 2 : 1
  scene.stars.forEach((star, i) => {
    g.fillStyle = COLORS[i === 0 ? (scene.player ?? 1) : other]
    g.globalAlpha = i === 0 ? 1 : 0.35
    g.font = "26px system-ui"
    g.textAlign = "center"
    g.textBaseline = "middle"
    g.fillText("★", star.x, star.y)
  })
  g.globalAlpha = 1
  if (scene.opponent) dot(g, scene.opponent, COLORS[other], false)
  if (scene.me) dot(g, scene.me, COLORS[scene.player], true)
}

function line(g: CanvasRenderingContext2D, x1: number, y1: number, x2: number, y2: number): void {
  g.beginPath()
  g.moveTo(x1, y1)
  g.lineTo(x2, y2)
  g.stroke()
}

function dot(g: CanvasRenderingContext2D, at: Point, color: string, mine: boolean): void {
  g.fillStyle = color
  g.beginPath()
  g.arc(at.x, at.y, 12, 0, Math.PI * 2)
  g.fill()
  if (!mine) return
  g.strokeStyle = color
  g.lineWidth = 3
  g.beginPath()
  g.arc(at.x, at.y, 18, 0, Math.PI * 2)
  g.stroke()
  g.lineWidth = 1
}
