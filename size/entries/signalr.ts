import { HubConnectionBuilder } from "@microsoft/signalr"

const connection = new HubConnectionBuilder().withUrl("/hub").withAutomaticReconnect().build()
connection.start().then(() => connection.invoke("Add", 1, 2).then(console.log))
