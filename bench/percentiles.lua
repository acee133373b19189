-- wrk reports p50/p75/p90/p99 by itself; the comparison wants p95 too.
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("TUNESTACK requests=%d errors=%d non2xx=%d duration_us=%d p50_us=%d p95_us=%d p99_us=%d\n",
    summary.requests, e.connect + e.read + e.write + e.timeout, e.status, summary.duration,
    latency:percentile(50), latency:percentile(95), latency:percentile(99)))
end
