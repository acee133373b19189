// The Node reference app: the contract of refapp/ (Python), refapp/rails and refapp/go, in Node.
// Dependencies from npm (package-lock.json): pg (node-postgres), ioredis, prom-client.
//
//   node server.js        the web: a node:cluster primary and WEB_CONCURRENCY workers on PORT
//   node server.js jobs   the job worker: JOB_CONCURRENCY loops on the queue Redis
//
// Every tuning value comes from the environment the plan renders (tunestack/plan/node.py);
// --max-old-space-size and UV_THREADPOOL_SIZE reach V8 and libuv through NODE_OPTIONS and the
// environment before this file runs.
//
//   GET /health              liveness; touches no backing service
//   GET /                    a query through PgBouncer, a cache read (and write on a miss), a job
//   GET /version             version and rollout track
//   GET /_tunestack/runtime  what the answering worker runs with (pool, heap limit, the session's
//                            timeouts, the cluster's size); ?job=NONCE adds a job process's report.
//                            Loopback and the X-Tunestack-Token header only.
//   GET /_tunestack/metrics  Prometheus metrics of the whole cluster (the names tunestack's alerts use)
//
// APP_FAULT_RATE (0-1) answers that share of requests with 500; APP_EXTRA_LATENCY_MS adds latency.
'use strict';

const cluster = require('node:cluster');
const crypto = require('node:crypto');
const fs = require('node:fs');
const http = require('node:http');
const v8 = require('node:v8');
const { Client, Pool } = require('pg');
const Redis = require('ioredis');
const prom = require('prom-client');

const JOBS_KEY = 'jobs';                          // the queue Redis list every reference app uses
const REPORT_KEY = 'tunestack:job-runtime:';
const REPORT_TTL = 300;
const NONCE = /^[0-9a-f]{16,64}$/;
const BLOCK_SECONDS = 1;                          // a job loop's BRPOP wait before it checks for a stop
const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.3, 0.5, 1, 2.5, 5, 10, 30];

const env = (name, fallback) => (process.env[name] ? process.env[name] : fallback);
const envInt = (name, fallback) => {
  const n = Number.parseInt(env(name, String(fallback)), 10);
  if (!Number.isFinite(n)) throw new Error(`${name}: not an integer`);
  return n;
};
const seconds = (name, fallback) => Number.parseFloat(env(name, String(fallback))) * 1000;

// A password from NAME, or from the file NAME_FILE names (on Docker passwords are files).
function secret(name) {
  if (name in process.env) return process.env[name];
  const path = process.env[`${name}_FILE`];
  return path ? fs.readFileSync(path, 'utf8').replace(/\n$/, '') : undefined;
}

// The password a new connection logs in with: DATABASE_PASSWORD; during a rotation
// (DATABASE_PASSWORD_PREVIOUS_FILE, the app image contract) the new one is tried first on a probe
// connection and the previous one used when it is refused: the servers switch only after every
// replica knows both. Read at each connect, never kept.
async function loginPassword(where) {
  const current = secret('DATABASE_PASSWORD');
  const previous = secret('DATABASE_PASSWORD_PREVIOUS');
  if (!previous) return current;
  const probe = new Client({ ...where, password: current });
  try {
    await probe.connect();
    return current;
  } catch (err) {
    if (/password authentication failed|SASL authentication failed/.test(err.message)) return previous;
    throw err;
  } finally {
    probe.end().catch(() => {});
  }
}

function openPool() {
  const url = new URL(process.env.DATABASE_URL);
  const where = {
    host: url.hostname, port: Number(url.port || 5432), database: url.pathname.slice(1),
    user: decodeURIComponent(url.username),
    // TLS as DATABASE_URL asks (sslmode=verify-full&sslrootcert=… across hosts): the CA and the name checked.
    ssl: url.searchParams.get('sslmode') === 'verify-full'
      ? { ca: fs.readFileSync(url.searchParams.get('sslrootcert')), rejectUnauthorized: true } : false,
  };
  return new Pool({
    ...where, password: () => loginPassword(where),
    max: envInt('PG_POOL_MAX', 10),
    idleTimeoutMillis: envInt('PG_IDLE_TIMEOUT_MILLIS', 10000),
    connectionTimeoutMillis: envInt('PG_CONNECTION_TIMEOUT_MILLIS', 0),
  });
}

// blockMs: a blocking pop waits that long before its reply, so its command timeout is longer.
// connectVar: the connect timeout's variable (a cache gives up sooner than the queue).
function redisClient(urlVar, passwordVar, blockMs = 0, connectVar = 'REDIS_CONNECT_TIMEOUT') {
  const options = {
    password: secret(passwordVar),
    connectTimeout: seconds(connectVar, seconds('REDIS_CONNECT_TIMEOUT', 5) / 1000),
    commandTimeout: blockMs + seconds('REDIS_READ_TIMEOUT', 1),
    maxRetriesPerRequest: 1,
    // rediss:// across hosts: verified against the stack's CA (REDIS_TLS_CA_FILE).
    ...(process.env[urlVar].startsWith('rediss://') && process.env.REDIS_TLS_CA_FILE
      ? { tls: { ca: fs.readFileSync(process.env.REDIS_TLS_CA_FILE) } } : {}),
  };
  // The queue with replicas (REDIS_SENTINELS): the master the Sentinels name. ioredis asks them
  // again on every reconnect and drops a connection whose node answers READONLY (a demoted master).
  // failoverDetector: a hung master keeps its TCP connection open, and a command timeout does not
  // reconnect; Sentinel's +switch-master does (measured: 24 s to the first queued job without it).
  if (urlVar === 'REDIS_URL' && process.env.REDIS_SENTINELS) {
    return new Redis({
      ...options,
      sentinels: process.env.REDIS_SENTINELS.split(',').map((e) => {
        const at = e.lastIndexOf(':');
        return { host: e.slice(0, at), port: Number(e.slice(at + 1)) };
      }),
      name: process.env.REDIS_SENTINEL_MASTER,
      sentinelPassword: secret('REDIS_SENTINEL_PASSWORD'),
      failoverDetector: true,
      // A frozen master answers nothing, and ioredis ends a connection gracefully (a FIN it never
      // answers) for 2 s before it destroys it: the switch came 6-7 s after the election. A socket
      // with no reply within the command's time is destroyed at once, and the reconnect asks the
      // Sentinels again, as the Go app's read timeout does.
      socketTimeout: options.commandTimeout,
      db: Number(new URL(process.env.REDIS_URL).pathname.slice(1) || 0),
    });
  }
  return new Redis(process.env[urlVar], options);
}

// LPUSH, and with REDIS_WAIT_REPLICAS the WAIT for that many replicas on the same connection (a
// pipeline: WAIT counts its own connection's writes). With fewer replicas connected than asked the
// job is accepted and counted (tunestack_queue_unreplicated_total), as Patroni's non-strict
// synchronous mode commits without a standby; a connected replica that has not acknowledged in
// REDIS_WAIT_TIMEOUT_MS fails the enqueue.
async function enqueue(queue, job, unreplicated) {
  const replicas = envInt('REDIS_WAIT_REPLICAS', 0);
  if (replicas === 0) return queue.lpush(JOBS_KEY, job);
  const [[pushErr], [waitErr, acknowledged]] = await queue.pipeline()
    .lpush(JOBS_KEY, job).wait(replicas, envInt('REDIS_WAIT_TIMEOUT_MS', 1000)).exec();
  if (pushErr || waitErr) throw pushErr || waitErr;
  if (acknowledged >= replicas) return undefined;
  const connected = (await queue.role())[2].length;
  if (connected >= replicas) {
    const err = new Error(`queue: ${acknowledged} of ${connected} connected replica(s) acknowledged the job in time`);
    err.status = 503;
    throw err;
  }
  unreplicated.inc();
  return undefined;
}

// What this process really runs with: read back from node-postgres and V8, never the environment.
async function report(pool) {
  const { rows: [row] } = await pool.query(
    "SELECT current_user AS database_user, current_setting('statement_timeout') AS statement_timeout, " +
    "current_setting('lock_timeout') AS lock_timeout");
  return {
    pid: process.pid, node: process.version,
    pool_max: pool.options.max,
    idle_timeout_millis: pool.options.idleTimeoutMillis,
    connection_timeout_millis: pool.options.connectionTimeoutMillis,
    heap_size_limit: v8.getHeapStatistics().heap_size_limit,   // old space + V8's young generation
    uv_threadpool_size: process.env.UV_THREADPOOL_SIZE ? Number(process.env.UV_THREADPOOL_SIZE) : 4,
    ...row,
  };
}

function reply(res, status, body) {
  const data = JSON.stringify(body);
  res.writeHead(status, {
    'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(data),
    'X-App-Version': env('APP_VERSION', 'dev'), 'X-Track': env('TUNESTACK_TRACK', 'stable'),
  });
  res.end(data);
}

// A loopback caller with the runtime token, compared in constant time.
function trusted(req) {
  const token = secret('TUNESTACK_RUNTIME_TOKEN');
  const given = Buffer.from(String(req.headers['x-tunestack-token'] || ''));
  const address = req.socket.remoteAddress || '';
  const loopback = address === '::1' || address.startsWith('127.') || address.startsWith('::ffff:127.');
  return loopback && !!token && given.length === Buffer.byteLength(token) &&
    crypto.timingSafeEqual(given, Buffer.from(token));
}

function metrics(pool, queue) {
  const registry = new prom.Registry();
  const latency = new prom.Histogram({
    name: 'tunestack_http_request_duration_seconds', help: 'Time to answer a request.',
    buckets: LATENCY_BUCKETS, registers: [registry],
  });
  const requests = new prom.Counter({
    name: 'tunestack_http_requests_total', help: 'Requests answered, by status class.',
    labelNames: ['code'], registers: [registry],
  });
  const cacheReads = new prom.Counter({
    name: 'tunestack_cache_reads_total', help: 'Cache reads, by hit or miss.',
    labelNames: ['result'], registers: [registry],
  });
  // The cluster's pools add up (aggregator sum, prom-client's default); one queue does not.
  new prom.Gauge({
    name: 'tunestack_db_pool_in_use_connections', help: 'Pool connections lent out now.', registers: [registry],
    collect() { this.set(pool.totalCount - pool.idleCount); },
  });
  new prom.Gauge({
    name: 'tunestack_db_pool_max_connections', help: "The pool's size (Pool max).", registers: [registry],
    collect() { this.set(pool.options.max); },
  });
  new prom.Gauge({
    name: 'tunestack_job_queue_depth', help: 'Jobs waiting in the queue Redis.', registers: [registry],
    aggregator: 'max',
    async collect() { this.set(await queue.llen(JOBS_KEY).catch(() => -1)); },
  });
  const queueUnreplicated = new prom.Counter({
    name: 'tunestack_queue_unreplicated_total', help: 'Enqueues accepted with no replica to wait for.',
    registers: [registry],
  });
  return { registry, latency, requests, cacheReads, queueUnreplicated };
}

// The whole cluster's metrics: a worker asks the primary, which gathers every worker's (prom-client
// AggregatorRegistry).
function clusterMetrics() {
  return new Promise((resolve, reject) => {
    const id = crypto.randomUUID();
    const timer = setTimeout(() => reject(new Error('metrics: no answer from the primary')), 5000);
    const onMessage = (msg) => {
      if (msg && msg.type === 'tunestack:metrics' && msg.id === id) {
        clearTimeout(timer);
        process.off('message', onMessage);
        msg.error ? reject(new Error(msg.error)) : resolve(msg.body);
      }
    };
    process.on('message', onMessage);
    process.send({ type: 'tunestack:metrics?', id });
  });
}

async function jobReport(queue, nonce) {
  const raw = await queue.get(REPORT_KEY + nonce);
  if (raw === null) {
    await queue.lpush(JOBS_KEY, JSON.stringify({ report: nonce }));
    return null;
  }
  return JSON.parse(raw);
}

function worker() {
  const pool = openPool();
  const cache = redisClient('REDIS_CACHE_URL', 'REDIS_CACHE_PASSWORD', 0, 'REDIS_CACHE_CONNECT_TIMEOUT');
  const queue = redisClient('REDIS_URL', 'REDIS_PASSWORD');
  const faults = Number.parseFloat(env('APP_FAULT_RATE', '0'));
  const latency = envInt('APP_EXTRA_LATENCY_MS', 0);
  const m = metrics(pool, queue);
  pool.on('error', (err) => console.error(`pool: ${err.message}`));   // an idle client's server went away

  async function page(req, res) {
    if (latency > 0) await new Promise((r) => setTimeout(r, latency));
    if (Math.random() < faults) return reply(res, 500, { error: 'injected fault (APP_FAULT_RATE)' });
    const { rows: [{ count }] } = await pool.query('SELECT count(*)::int AS count FROM hits');
    const key = `page:${Math.floor(Math.random() * 100)}`;
    const cached = await cache.get(key);
    m.cacheReads.inc({ result: cached === null ? 'miss' : 'hit' });
    if (cached === null) await cache.set(key, String(count), 'EX', 60);
    const job = crypto.randomBytes(16).toString('hex');   // named in the answer: a client can find its job
    await enqueue(queue, JSON.stringify({ at: Date.now() / 1000, id: job }), m.queueUnreplicated);
    return reply(res, 200, { hits: count, cached: cached !== null, job });
  }

  async function runtime(req, res, url) {
    if (!trusted(req)) return reply(res, 404, { error: 'not found' });
    const body = { ...(await report(pool)), request_timeout: server.requestTimeout / 1000,
                   cluster_workers: envInt('WEB_CONCURRENCY', 1) };
    const nonce = url.searchParams.get('job');
    if (nonce !== null) {
      if (!NONCE.test(nonce)) return reply(res, 400, { error: 'job: 16-64 lowercase hex digits' });
      body.job = await jobReport(queue, nonce);
    }
    return reply(res, 200, body);
  }

  let stopping = false;
  const answering = new Set();   // responses not yet sent: a stop closes their connections too
  const server = http.createServer(async (req, res) => {
    // Stopping: this answer closes its connection, so the proxy sends nothing more on it (below).
    if (stopping) res.setHeader('Connection', 'close');
    answering.add(res);
    res.once('close', () => answering.delete(res));
    const url = new URL(req.url, 'http://app');
    const probe = url.pathname === '/health' || url.pathname.startsWith('/_tunestack/');
    const stop = probe ? null : m.latency.startTimer();
    try {
      if (url.pathname === '/health') reply(res, 200, { ok: true });
      else if (url.pathname === '/version') {
        reply(res, 200, { version: env('APP_VERSION', 'dev'), track: env('TUNESTACK_TRACK', 'stable') });
      } else if (url.pathname === '/_tunestack/metrics') {
        const body = await clusterMetrics();
        res.writeHead(200, { 'Content-Type': m.registry.contentType });
        res.end(body);
      } else if (url.pathname === '/_tunestack/runtime') await runtime(req, res, url);
      else await page(req, res);
    } catch (err) {
      if (!res.headersSent) reply(res, 503, { error: err.message });
    } finally {
      if (stop) {
        stop();
        m.requests.inc({ code: `${Math.floor(res.statusCode / 100)}xx` });
      }
    }
  });
  // The request timeout, inside the app: node closes a request not answered in time.
  server.requestTimeout = seconds('REQUEST_TIMEOUT', 30);
  server.keepAliveTimeout = 65000;   // above HAProxy's idle keep-alive, so the proxy closes first
  // Answer the primary's requests for this worker's metrics (prom-client adds that listener when
  // an AggregatorRegistry is made in the worker).
  prom.AggregatorRegistry.setRegistries([m.registry]);
  new prom.AggregatorRegistry();
  const bind = env('BIND', `127.0.0.1:${env('PORT', '8000')}`);
  const at = bind.lastIndexOf(':');
  server.listen(Number(bind.slice(at + 1)), bind.slice(0, at));
  // A graceful stop. close() ends only the keep-alive connections idle at that moment: one whose
  // request was in flight stayed open, took the proxy's next requests and kept the worker alive
  // until keepAliveTimeout, past the container's stop timeout, whose SIGKILL then failed a request
  // (seen in CI). Every answer not yet sent says Connection: close; what is still open after the
  // request timeout is closed.
  process.on('SIGTERM', () => {
    stopping = true;
    for (const res of answering) if (!res.headersSent) res.setHeader('Connection', 'close');
    server.close(() => Promise.all([pool.end(), cache.quit(), queue.quit()]).finally(() => process.exit(0)));
    server.closeIdleConnections();
    setTimeout(() => server.closeAllConnections(), server.requestTimeout + 1000).unref();
  });
}

function primary() {
  const workers = envInt('WEB_CONCURRENCY', 1);
  const aggregator = new prom.AggregatorRegistry();
  let stopping = false;
  cluster.on('message', async (w, msg) => {
    if (!msg || msg.type !== 'tunestack:metrics?') return;
    try {
      w.send({ type: 'tunestack:metrics', id: msg.id, body: await aggregator.clusterMetrics() });
    } catch (err) {
      w.send({ type: 'tunestack:metrics', id: msg.id, error: err.message });
    }
  });
  cluster.on('exit', (w, code, signal) => {
    if (stopping) return;
    console.error(`worker ${w.process.pid} ended (${signal || code}); starting another`);
    cluster.fork();
  });
  for (let i = 0; i < workers; i += 1) cluster.fork();
  console.log(`primary ${process.pid}: ${workers} workers`);
  process.on('SIGTERM', () => {
    stopping = true;
    for (const w of Object.values(cluster.workers)) w.process.kill('SIGTERM');
    const done = () => Object.keys(cluster.workers).length === 0 && process.exit(0);
    cluster.on('exit', done);
    done();
  });
}

// The job worker: JOB_CONCURRENCY loops, each blocking on its own queue connection (a blocking
// command holds its connection), sharing one pg pool sized for them.
//
// Reliable queue (Redis docs, LMOVE: "Pattern: Reliable queue"): a job moves atomically from the
// queue into the loop's own processing list and leaves it only once its row is committed; a loop
// retries its unfinished job with backoff while PostgreSQL or Redis is away, and after
// JOB_GIVE_UP_SECONDS without progress the process exits non-zero for its process manager to
// start again. Each loop keeps a heartbeat; the jobs of a processing list whose heartbeat expired
// (a process that died) go back on the queue.
const PROCESSING = 'jobs:processing:';
const ALIVE = 'jobs:worker:';
const HEARTBEAT_TTL = 15;
const BEAT_EVERY_MS = 5000;
const BACKOFF_MS = [100, 200, 500, 1000, 2000];

async function requeueOrphans(queue) {
  let cursor = '0';
  do {
    const [next, keys] = await queue.scan(cursor, 'MATCH', `${PROCESSING}*`, 'COUNT', 100);
    cursor = next;
    for (const key of keys) {
      if (await queue.exists(ALIVE + key.slice(PROCESSING.length))) continue;
      while (await queue.lmove(key, JOBS_KEY, 'RIGHT', 'RIGHT') !== null);
    }
  } while (cursor !== '0');
}

function jobs() {
  const pool = openPool();
  const concurrency = envInt('JOB_CONCURRENCY', 1);
  const giveUpMs = seconds('JOB_GIVE_UP_SECONDS', 60);
  let stopping = false;
  pool.on('error', (err) => console.error(`pool: ${err.message}`));
  async function step(queue, id, state) {
    const processing = PROCESSING + id;
    if (Date.now() >= state.nextBeat) {
      await queue.set(ALIVE + id, '1', 'EX', HEARTBEAT_TTL);
      await requeueOrphans(queue);
      state.nextBeat = Date.now() + BEAT_EVERY_MS;
    }
    let item = await queue.lindex(processing, -1);   // the unfinished job first
    if (item === null) item = await queue.blmove(JOBS_KEY, processing, 'RIGHT', 'LEFT', BLOCK_SECONDS);
    if (item === null) return;
    let job = null;
    try { job = JSON.parse(item); } catch (err) { job = null; }
    if (job && typeof job.report === 'string' && NONCE.test(job.report)) {
      const body = { ...(await report(pool)), concurrency };
      await queue.set(REPORT_KEY + job.report, JSON.stringify(body), 'EX', REPORT_TTL);
    } else {
      await pool.query('INSERT INTO hits DEFAULT VALUES');
    }
    await queue.lrem(processing, 1, item);   // acknowledged: the row is committed
  }
  async function loop(slot) {
    const queue = redisClient('REDIS_URL', 'REDIS_PASSWORD', BLOCK_SECONDS * 1000);
    queue.on('error', () => {});   // each failed command says it; reconnection is ioredis' own
    const id = `${require('node:os').hostname()}:${process.pid}:${slot}`;
    const state = { nextBeat: 0 };
    let failingSince = null;
    let attempt = 0;
    while (!stopping) {
      try {
        await step(queue, id, state);
        failingSince = null;
        attempt = 0;
      } catch (err) {
        failingSince = failingSince || Date.now();
        if (Date.now() - failingSince > giveUpMs) {
          console.error(`worker ${id}: giving up after ${giveUpMs / 1000} s: ${err.message}`);
          process.exit(1);
        }
        console.error(`worker ${id}: ${err.message}; retrying`);
        await new Promise((r) => setTimeout(r, BACKOFF_MS[Math.min(attempt, BACKOFF_MS.length - 1)]));
        attempt += 1;
      }
    }
    queue.disconnect();
  }
  const loops = Array.from({ length: concurrency }, (_, i) => loop(i));
  console.log(`${concurrency} job loops`);
  process.on('SIGTERM', () => {
    stopping = true;
    Promise.all(loops).then(() => pool.end()).finally(() => process.exit(0));
  });
}

if (process.argv[2] === 'jobs') jobs();
else if (cluster.isPrimary) primary();
else worker();
