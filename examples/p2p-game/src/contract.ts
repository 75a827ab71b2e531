import { contract, peer, rpc } from "@switchyard/core"
// The Schema module alone: the `effect` barrel would pull all of Effect into the page bundle.
import * as Schema from "effect/Schema"

/** A match id: what goes after `#` in the page URL. */
export const MatchId = Schema.String.check(
  Schema.isPattern(/^[a-z0-9][a-z0-9_-]{0,31}$/, { message: "a match id is 1–32 of a–z, 0–9, - and _" }),
)

/** Player 1 is the first to join a match, player 2 the second. */
export const Player = Schema.Literals([1, 2])
export type Player = typeof Player.Type

// #region contract
/** Where the sending player's dot is, in canvas pixels. */
export const Position = Schema.Struct({ x: Schema.Finite, y: Schema.Finite })
export type Position = typeof Position.Type

/** A player reached its `star`-th star (1, 2, …): one point. */
export const Scored = Schema.Struct({ player: Player, star: Schema.Int })
export type Scored = typeof Scored.Type

export const MatchFull = Schema.TaggedStruct("MatchFull", { match: MatchId })

export const Arena = contract({
  rpc: {
    /** Takes a seat in `match`; answers the seat, and the other player's peer id if one is seated. */
    join: rpc({
      input: Schema.Struct({ match: MatchId, peerId: Schema.String }),
      output: Schema.Struct({ player: Player, opponent: Schema.NullOr(Schema.String) }),
      error: MatchFull,
    }),
  },
  peers: {
    // Game state: the next position replaces the last, so a late one is worth nothing. Latest wins,
    // straight to the other player on an unordered data channel that never retransmits.
    position: peer({ message: Position, delivery: "unreliable" }),
    // Game events: each one counts. Reliable, ordered, exactly once, straight to the other player.
    scored: peer({ message: Scored }),
  },
})
export type Arena = typeof Arena
// #endregion contract
