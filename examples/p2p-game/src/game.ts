import type { Player } from "./contract.ts"

/** The canvas, in CSS pixels. */
export const WIDTH = 860
export const HEIGHT = 440
/** How fast a dot glides toward where its player clicked, in pixels per second. */
export const SPEED = 600
/** A dot this close to its star takes it. */
export const REACH = 16

export interface Point {
  readonly x: number
  readonly y: number
}

/** Where each player's dot starts. */
export function startOf(player: Player): Point {
  return player === 1 ? { x: 120, y: HEIGHT / 2 } : { x: WIDTH - 120, y: HEIGHT / 2 }
}

/** Where player `player`'s `n`-th star (1, 2, …) is: the same on both pages, with nothing to send. */
export function starOf(player: Player, n: number): Point {
  return { x: 60 + ((n * 397 + player * 211) % (WIDTH - 120)), y: 60 + ((n * 173 + player * 97) % (HEIGHT - 120)) }
}

/** One tick of movement: `seconds` of gliding from `from` toward `to`, at SPEED. */
export function glide(from: Point, to: Point, seconds: number): Point {
  const dx = to.x - from.x
  const dy = to.y - from.y
  const distance = Math.hypot(dx, dy)
  const step = SPEED * seconds
  if (distance <= step) return to
  return { x: from.x + (dx / distance) * step, y: from.y + (dy / distance) * step }
}

export function near(a: Point, b: Point): boolean {
  return Math.hypot(a.x - b.x, a.y - b.y) < REACH
}
