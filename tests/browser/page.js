// A chat page as an app would write it: negotiate through its own origin (`/api/negotiate`,
// answered with `{url, accessToken}`), then follow that redirect to the SignalR endpoint on
// another origin. The query says which transport to force, the user and a REST URL to try.
const params = new URLSearchParams(location.search);
const status = document.getElementById("status");
const rest = document.getElementById("rest");
const messages = document.getElementById("messages");

const connection = new signalR.HubConnectionBuilder()
  .withUrl(`/api?userId=${encodeURIComponent(params.get("user"))}`, {
    transport: signalR.HttpTransportType[params.get("transport")],
  })
  .configureLogging(signalR.LogLevel.Warning)
  .build();

// What `asrs send` invokes: SendMessage(server name, text). textContent, never HTML.
connection.on("SendMessage", (server, text) => {
  const item = document.createElement("li");
  item.textContent = `${server}: ${text}`;
  messages.append(item);
});

// Calling the REST API straight from the page must be refused by the browser: no CORS there.
async function tryRest() {
  try {
    const response = await fetch(params.get("rest"), {
      method: "POST",
      headers: { Authorization: "Bearer from-a-page", "Content-Type": "application/json" },
      body: JSON.stringify({ target: "SendMessage", arguments: ["page", "should not arrive"] }),
    });
    return `allowed ${response.status}`;
  } catch (error) {
    return `blocked ${error.name}`;
  }
}

connection
  .start()
  .then(async () => {
    rest.textContent = await tryRest();
    status.textContent = `connected ${connection.connectionId}`;
  })
  .catch((error) => {
    status.textContent = `failed ${error}`;
  });
