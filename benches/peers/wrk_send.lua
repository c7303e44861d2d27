-- wrk replays one REST send with a fixed, pre-signed token (the ceiling of the sending
-- benchmark). The harness passes the token and body shape through the environment.
wrk.method = "POST"
wrk.body = '{"target":"newMessage","arguments":["bench","hello from the benchmark"]}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("ASRS_BENCH_TOKEN")
