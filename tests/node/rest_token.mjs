// Proves the emulator accepts a REST token minted by an independent JWT library: signs an
// HS256 token with Node's `jsonwebtoken` for the given URL, POSTs a broadcast there and
// prints {"status": <http status>, "body": <text>} as one JSON line.
//
// Usage: node rest_token.mjs <rest-url> <access-key> [target]
import jwt from "jsonwebtoken";

const [url, key, target = "fromNode"] = process.argv.slice(2);
if (!url || !key) {
  console.error("usage: node rest_token.mjs <rest-url> <access-key> [target]");
  process.exit(2);
}
// The audience is the URL without its query string, as the reference docs describe.
const audience = url.split("?")[0];
const token = jwt.sign({}, key, { algorithm: "HS256", audience, expiresIn: "5m" });
const response = await fetch(url, {
  method: "POST",
  headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" },
  body: JSON.stringify({ target, arguments: ["signed by node"] }),
});
process.stdout.write(JSON.stringify({ status: response.status, body: await response.text() }) + "\n");
