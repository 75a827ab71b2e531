export type { HandlerContext, Handlers, RpcHandler, StreamHandler, TopicPolicy } from "./handlers.ts"
export { type ServerLimits, type ServerOptions, defaultLimits } from "./options.ts"
export { type Server, type TopicPublishers, createServer } from "./server.ts"
