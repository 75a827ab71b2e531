// The names the docs' code blocks use without defining them: a page shows the part that matters and
// takes "a contract `Chat`, its handlers, the server's URL" as given. Declared here, globally, for the
// compilation of those blocks only (packages/tests/src/support/docBlocks.ts); a block that imports or
// declares one of these names itself uses its own. Any contract does for `Chat` where a block only passes
// it along; a block that calls its procedures by name says what it assumes in a prelude marker.

/** A contract. */
declare const Chat: typeof import("@switchyard/core/testing").TestContract
type Chat = typeof Chat
/** Its handlers. */
declare const handlers: import("@switchyard/server-node").Handlers<Chat>
/** The server's URL, `http://…/switchyard`. */
declare const url: string
/** A server and a client of that contract. */
declare const server: import("@switchyard/server-node").Server<Chat>
declare const client: import("@switchyard/core").Client<Chat>
/** The application's own UI, which a block calls to show what it received. */
declare function show(...values: readonly unknown[]): void
declare function draw(...values: readonly unknown[]): void
declare function log(...values: readonly unknown[]): void
