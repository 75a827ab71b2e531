export type { HandlerContext, Handlers, RpcHandler, StreamHandler, TopicPolicy } from "./handlers.ts"
export { defaultLimits, type ServerLimits, type ServerOptions } from "./options.ts"
export { createServer, type Server, type TopicPublishers } from "./server.ts"
export type { SignalledServerTransport, SignalSession } from "./signalled.ts"
