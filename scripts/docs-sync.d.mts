// Types of scripts/docs-sync.mjs, for packages/tests/src/docs-blocks.test.ts.

/** A block of a page that comes from an example app. */
export interface ExampleBlock {
  /** `docs/tutorial-chat.md:12`: the page and the line of the opening fence. */
  readonly where: string
  /** `examples/chat/src/server.ts#serve`. */
  readonly source: string
  readonly open: number
  readonly close: number
  /** The block's text in the page. */
  readonly shown: string
  /** The text of its source. */
  readonly text: string
}

export function exampleText(path: string, region?: string): string
export function exampleBlocks(file: string): ExampleBlock[]
export function pages(): string[]
