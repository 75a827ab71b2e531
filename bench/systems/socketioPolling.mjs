// Socket.IO 4.8 on its HTTP long-polling transport only (no upgrade to WebSocket): the peer of
// Switchyard's long polling.
import { socketioSystem } from "./socketio.mjs"

export const name = "socketio-polling"
export const label = "Socket.IO emitWithAck over HTTP long polling"

export const { startServer, connectClient, startFanoutServer, connectSubscriber } = socketioSystem(["polling"])
