// Node peer sender: global fetch + jsonwebtoken, the way the Azure SignalR serverless samples
// do it. Each request POSTs {target, arguments} with `Authorization: Bearer <HS256 JWT>` whose
// `aud` is the URL without query string and `exp` one hour ahead. `--token fresh` signs one per
// request (the samples' way); `--token reused` signs one and reuses it. Prints one JSON line.
//
//   node send.mjs --url URL --key KEY --concurrency 64 --duration 10 --warmup 2 --token fresh

import jwt from "jsonwebtoken";

const args = { concurrency: 1, duration: 10, warmup: 2, token: "fresh" };
for (let i = 2; i < process.argv.length; i += 2) {
  args[process.argv[i].replace(/^--/, "")] = process.argv[i + 1];
}
const concurrency = Number(args.concurrency);
const audience = args.url.split("?")[0];
const body = JSON.stringify({ target: "newMessage", arguments: ["bench", "hello from the benchmark"] });
const sign = () =>
  jwt.sign({ aud: audience, exp: Math.floor(Date.now() / 1000) + 3600 }, args.key, { algorithm: "HS256" });
const reused = sign();

let measuring = false;
let stop = false;
let errors = 0;
const latencies = [];

async function worker() {
  while (!stop) {
    const started = performance.now();
    const token = args.token === "fresh" ? sign() : reused;
    let ok;
    try {
      const response = await fetch(args.url, {
        method: "POST",
        headers: { "Content-Type": "application/json", Authorization: `Bearer ${token}` },
        body,
      });
      await response.arrayBuffer();
      ok = response.status < 300;
    } catch {
      ok = false;
    }
    if (measuring && !stop) {
      if (ok) latencies.push(performance.now() - started);
      else errors += 1;
    }
  }
}

const sleep = (s) => new Promise((r) => setTimeout(r, s * 1000));
const workers = Array.from({ length: concurrency }, worker);
await sleep(Number(args.warmup));
measuring = true;
const started = performance.now();
await sleep(Number(args.duration));
stop = true;
const seconds = (performance.now() - started) / 1000;
await Promise.all(workers);
latencies.sort((a, b) => a - b);
const pct = (q) => (latencies.length ? latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] : 0);
console.log(
  JSON.stringify({
    requests: latencies.length,
    errors,
    seconds,
    rps: latencies.length / seconds,
    p50_us: Math.round(pct(0.5) * 1000),
    p99_us: Math.round(pct(0.99) * 1000),
  }),
);
