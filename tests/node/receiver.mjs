// Connects to the emulator with the official SignalR JavaScript client and reports, one JSON
// line each on stdout: {"event":"connected","connectionId"}, {"event":"message","target",
// "arguments"} per received invocation, and {"event":"closed","error"} from onclose.
//
// Usage: node receiver.mjs <client-url> <access-token> [WebSockets|ServerSentEvents|LongPolling]
//        [json|messagepack]
// Also read from the environment: ASRS_URL, ASRS_TOKEN, ASRS_TRANSPORT, ASRS_PROTOCOL and
// ASRS_TARGETS (comma-separated method names to listen for).
import * as signalR from "@microsoft/signalr";
import { MessagePackHubProtocol } from "@microsoft/signalr-protocol-msgpack";

const [url = process.env.ASRS_URL, token = process.env.ASRS_TOKEN,
  transport = process.env.ASRS_TRANSPORT ?? "WebSockets",
  protocol = process.env.ASRS_PROTOCOL ?? "json"] = process.argv.slice(2);
const targets = (process.env.ASRS_TARGETS ?? "broadcast,toUser,toGroup,toConnection")
  .split(",").filter((t) => t.length > 0);

const print = (line) => process.stdout.write(JSON.stringify(line) + "\n");

if (!url || !token) {
  console.error("usage: node receiver.mjs <client-url> <access-token> [transport] [protocol]");
  process.exit(2);
}
const transportType = signalR.HttpTransportType[transport];
if (transportType === undefined) {
  console.error(`unknown transport ${transport}`);
  process.exit(2);
}

const builder = new signalR.HubConnectionBuilder()
  .withUrl(url, {
    transport: transportType,
    skipNegotiation: false,
    accessTokenFactory: () => token,
  })
  .configureLogging(signalR.LogLevel.Warning);
if (protocol === "messagepack") {
  builder.withHubProtocol(new MessagePackHubProtocol());
} else if (protocol !== "json") {
  console.error(`unknown protocol ${protocol}`);
  process.exit(2);
}
const connection = builder.build();

for (const target of targets) {
  connection.on(target, (...args) => print({ event: "message", target, arguments: args }));
}
connection.onclose((error) => {
  print({ event: "closed", error: error ? String(error.message ?? error) : null });
  process.exit(0);
});

try {
  await connection.start();
  print({ event: "connected", connectionId: connection.connectionId, transport, protocol });
} catch (error) {
  print({ event: "failed", error: String(error.message ?? error) });
  process.exit(1);
}
