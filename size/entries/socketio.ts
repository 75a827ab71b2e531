import { io } from "socket.io-client"

const socket = io("/")
socket.emit("add", { a: 1, b: 2 }, console.log)
