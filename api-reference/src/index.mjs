export { entries, root } from "./entries.mjs"
export { memberExamples, memberOf, publicExports } from "./exports.mjs"
export { generate } from "./generate.mjs"
