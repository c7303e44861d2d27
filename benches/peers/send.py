"""Python peer sender: aiohttp + PyJWT, the way the Azure SignalR serverless samples do it.

Each request is a POST of {"target", "arguments"} to the REST URL with
`Authorization: Bearer <HS256 JWT>` whose `aud` is the URL without query string and `exp` one
hour ahead. `--token fresh` signs a new token for every request (the samples' way);
`--token reused` signs one and reuses it. Prints one JSON line like our sender.

    python3 send.py --url URL --key KEY --concurrency 64 --duration 10 --warmup 2 --token fresh
"""

import argparse
import asyncio
import json
import time

import aiohttp
import jwt


def percentile(sorted_values, q):
    if not sorted_values:
        return 0
    index = min(len(sorted_values) - 1, int(q * len(sorted_values)))
    return sorted_values[index]


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--token", choices=["fresh", "reused"], default="fresh")
    args = parser.parse_args()

    audience = args.url.split("?")[0]
    body = {"target": "newMessage", "arguments": ["bench", "hello from the benchmark"]}

    def sign():
        return jwt.encode(
            {"aud": audience, "exp": int(time.time()) + 3600}, args.key, algorithm="HS256"
        )

    reused = sign()
    state = {"measuring": False, "stop": False}
    latencies = []
    errors = 0

    async def worker(session):
        nonlocal errors
        while not state["stop"]:
            started = time.perf_counter()
            token = sign() if args.token == "fresh" else reused
            headers = {"Authorization": "Bearer " + token}
            try:
                async with session.post(args.url, json=body, headers=headers) as response:
                    await response.read()
                    ok = response.status < 300
            except aiohttp.ClientError:
                ok = False
            if state["measuring"] and not state["stop"]:
                if ok:
                    latencies.append(time.perf_counter() - started)
                else:
                    errors += 1

    connector = aiohttp.TCPConnector(limit=args.concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        tasks = [asyncio.create_task(worker(session)) for _ in range(args.concurrency)]
        await asyncio.sleep(args.warmup)
        state["measuring"] = True
        started = time.perf_counter()
        await asyncio.sleep(args.duration)
        state["stop"] = True
        seconds = time.perf_counter() - started
        await asyncio.gather(*tasks)

    latencies.sort()
    print(
        json.dumps(
            {
                "requests": len(latencies),
                "errors": errors,
                "seconds": seconds,
                "rps": len(latencies) / seconds,
                "p50_us": int(percentile(latencies, 0.50) * 1e6),
                "p99_us": int(percentile(latencies, 0.99) * 1e6),
            }
        )
    )


asyncio.run(main())
