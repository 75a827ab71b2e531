import { createInterface } from "node:readline"
import { connectMember } from "./member.ts"

/**
 * A terminal member of a board (`pnpm --filter @switchyard/example-redis client <name>`): prints the
 * notes and who comes and goes, posts each line typed, and says which node holds its session each time
 * it connects.
 */
export async function runTerminal(url: string, name: string, board = "lobby"): Promise<void> {
  const member = connectMember({ url, name })
  // #region subscribe
  const lobby = member.topics.board(board)
  lobby.subscribe((note) => console.log(`${note.author} (via node ${note.node}): ${note.text}`), {
    presence: {
      join: (m) => console.log(`+ ${m.data.name} is here`),
      leave: (m) => console.log(`- ${m.data.name} left`),
    },
  })
  // "connected" the first time, "resumed" when the session survived a drop (here: its node stopped).
  member.on("transport", async (transport, reason) =>
    console.log(`(${reason}: ${transport} to node ${await member.rpc.whereAmI({})})`),
  )
  // #endregion subscribe
  const lines = createInterface({ input: process.stdin })
  console.log(`${name} on board "${board}": type a note and press Enter; Ctrl+D leaves`)
  for await (const line of lines) {
    const text = line.trim()
    if (text) await member.rpc.post({ board, text }).catch((error) => console.error(String(error)))
  }
  await member.close()
}
