// The Go reference app: the contract of refapp/ (Python) and refapp/rails, in Go. Built
// GOPATH-style from Debian's packages (golang-go, golang-github-lib-pq-dev,
// golang-github-gomodule-redigo-dev, golang-github-prometheus-client-golang-dev):
//
//	GO111MODULE=off GOPATH=/usr/share/gocode go build -o refapp-go ./refapp/go
//
// `refapp-go` serves HTTP; `refapp-go jobs` runs the job worker pool. Every tuning value comes from
// the environment the plan renders (tunestack/plan/golang.py); GOMAXPROCS and GOMEMLIMIT are read
// by the Go runtime itself, before main runs.
//
//	GET /health               liveness; touches no backing service
//	GET /                     a query through PgBouncer, a cache read (and write on a miss), a job
//	GET /version              version and rollout track
//	GET /_tunestack/runtime   what this process runs with (pool, GOMAXPROCS, memory limit, the
//	                          session's timeouts); ?job=NONCE adds a job process's own report.
//	                          Loopback and the X-Tunestack-Token header only.
//	GET /_tunestack/metrics   Prometheus metrics (the names tunestack's alerts use)
//
// APP_FAULT_RATE (0-1) answers that share of requests with 500; APP_EXTRA_LATENCY_MS adds latency.
package main

import (
	"context"
	crand "crypto/rand"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"database/sql"
	"database/sql/driver"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log"
	"math/rand"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"regexp"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/FZambia/sentinel"
	"github.com/gomodule/redigo/redis"
	"github.com/lib/pq"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

const (
	jobsKey        = "jobs" // the queue Redis list every reference app uses
	reportTTL      = 300    // seconds a job's runtime report stays in Redis
	reportKeyStart = "tunestack:job-runtime:"
	blockFor       = time.Second // how long a job worker's BRPOP waits for a job before checking for a stop
)

var nonceShape = regexp.MustCompile(`^[0-9a-f]{16,64}$`)

func env(name, fallback string) string {
	if v, ok := os.LookupEnv(name); ok && v != "" {
		return v
	}
	return fallback
}

func envInt(name string, fallback int) int {
	n, err := strconv.Atoi(env(name, strconv.Itoa(fallback)))
	if err != nil {
		log.Fatalf("%s: %v", name, err)
	}
	return n
}

func envSeconds(name string, fallback float64) time.Duration {
	f, err := strconv.ParseFloat(env(name, strconv.FormatFloat(fallback, 'f', -1, 64)), 64)
	if err != nil {
		log.Fatalf("%s: %v", name, err)
	}
	return time.Duration(f * float64(time.Second))
}

func envDuration(name string, fallback time.Duration) time.Duration {
	d, err := time.ParseDuration(env(name, fallback.String()))
	if err != nil {
		log.Fatalf("%s: %v", name, err)
	}
	return d
}

// secret is NAME, or the contents of the file NAME_FILE names (on Docker passwords are files, so
// that `docker inspect` never shows them).
func secret(name string) string {
	if v, ok := os.LookupEnv(name); ok {
		return v
	}
	path := os.Getenv(name + "_FILE")
	if path == "" {
		return ""
	}
	b, err := os.ReadFile(path)
	if err != nil {
		log.Fatalf("%s_FILE: %v", name, err)
	}
	return strings.TrimRight(string(b), "\n")
}

// libpqQuote quotes a keyword value for a libpq-style connection string: a password may hold any
// character.
func libpqQuote(s string) string {
	return "'" + strings.ReplaceAll(strings.ReplaceAll(s, `\`, `\\`), "'", `\'`) + "'"
}

// passwordConnector logs in with DATABASE_PASSWORD; during a rotation (DATABASE_PASSWORD_PREVIOUS_FILE,
// the app image contract) a refused password is tried once more with the previous one: the servers
// switch to the new password only after every replica knows both. Read at each connect, never kept.
type passwordConnector struct{ dsn string }

func (c passwordConnector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.login(ctx, secret("DATABASE_PASSWORD"))
	if previous := secret("DATABASE_PASSWORD_PREVIOUS"); err != nil && previous != "" && passwordRefused(err) {
		return c.login(ctx, previous)
	}
	return conn, err
}

func (c passwordConnector) Driver() driver.Driver { return &pq.Driver{} }

func (c passwordConnector) login(ctx context.Context, password string) (driver.Conn, error) {
	connector, err := pq.NewConnector(c.dsn + " password=" + libpqQuote(password))
	if err != nil {
		return nil, err
	}
	return connector.Connect(ctx)
}

// passwordRefused: PostgreSQL says "password authentication failed", PgBouncer with SCRAM "SASL
// authentication failed".
func passwordRefused(err error) bool {
	return strings.Contains(err.Error(), "password authentication failed") ||
		strings.Contains(err.Error(), "SASL authentication failed")
}

// openDB opens the database/sql pool with the plan's limits. DATABASE_URL has no password; it
// comes from DATABASE_PASSWORD(_FILE).
func openDB() *sql.DB {
	u, err := url.Parse(os.Getenv("DATABASE_URL"))
	if err != nil {
		log.Fatalf("DATABASE_URL: %v", err)
	}
	// TLS as DATABASE_URL asks (sslmode=verify-full&sslrootcert=… across hosts); none on one host.
	sslmode := u.Query().Get("sslmode")
	if sslmode == "" {
		sslmode = "disable"
	}
	dsn := fmt.Sprintf("host=%s port=%s dbname=%s user=%s sslmode=%s connect_timeout=%d",
		libpqQuote(u.Hostname()), libpqQuote(u.Port()), libpqQuote(strings.TrimPrefix(u.Path, "/")),
		libpqQuote(u.User.Username()), libpqQuote(sslmode), envInt("DB_CONNECT_TIMEOUT", 2))
	if root := u.Query().Get("sslrootcert"); root != "" {
		dsn += " sslrootcert=" + libpqQuote(root)
	}
	if _, err := pq.NewConnector(dsn); err != nil {
		log.Fatalf("database: %v", err)
	}
	db := sql.OpenDB(passwordConnector{dsn})
	db.SetMaxOpenConns(envInt("DB_MAX_OPEN_CONNS", 25))
	db.SetMaxIdleConns(envInt("DB_MAX_IDLE_CONNS", 5))
	db.SetConnMaxLifetime(envDuration("DB_CONN_MAX_LIFETIME", 30*time.Minute))
	db.SetConnMaxIdleTime(envDuration("DB_CONN_MAX_IDLE_TIME", 5*time.Minute))
	return db
}

// connectVar: the connect timeout's variable (a cache gives up sooner than the queue).
func redisPool(urlVar, passwordVar, connectVar string, size int) *redis.Pool {
	return &redis.Pool{
		MaxIdle: size, MaxActive: size, Wait: true, IdleTimeout: 5 * time.Minute,
		Dial: func() (redis.Conn, error) {
			options := []redis.DialOption{redis.DialPassword(secret(passwordVar)),
				redis.DialConnectTimeout(envSeconds(connectVar, envSeconds("REDIS_CONNECT_TIMEOUT", 5).Seconds())),
				redis.DialReadTimeout(envSeconds("REDIS_READ_TIMEOUT", 1)),
				redis.DialWriteTimeout(envSeconds("REDIS_WRITE_TIMEOUT", 1))}
			// rediss:// across hosts: verified against the stack's CA (REDIS_TLS_CA_FILE).
			if ca := os.Getenv("REDIS_TLS_CA_FILE"); ca != "" && strings.HasPrefix(os.Getenv(urlVar), "rediss://") {
				pem, err := os.ReadFile(ca)
				if err != nil {
					return nil, err
				}
				roots := x509.NewCertPool()
				roots.AppendCertsFromPEM(pem)
				options = append(options, redis.DialTLSConfig(&tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}))
			}
			return redis.DialURL(os.Getenv(urlVar), options...)
		},
	}
}

// queuePool is the queue's pool: REDIS_URL, or with replicas (REDIS_SENTINELS) the master the
// Sentinels name (FZambia/sentinel asks them in turn), checked with ROLE whenever a connection is
// borrowed, so that one still open to a demoted master is dropped instead of answering READONLY.
func queuePool(size int) *redis.Pool {
	pool := redisPool("REDIS_URL", "REDIS_PASSWORD", "REDIS_CONNECT_TIMEOUT", size)
	if os.Getenv("REDIS_SENTINELS") == "" {
		return pool
	}
	timeout := envSeconds("REDIS_CONNECT_TIMEOUT", 5)
	guide := &sentinel.Sentinel{
		Addrs: strings.Split(os.Getenv("REDIS_SENTINELS"), ","), MasterName: os.Getenv("REDIS_SENTINEL_MASTER"),
		Dial: func(addr string) (redis.Conn, error) {
			return redis.Dial("tcp", addr, redis.DialPassword(secret("REDIS_SENTINEL_PASSWORD")),
				redis.DialConnectTimeout(timeout), redis.DialReadTimeout(timeout), redis.DialWriteTimeout(timeout))
		},
	}
	db, _ := strconv.Atoi(strings.TrimPrefix(strings.TrimPrefix(os.Getenv("REDIS_URL"), "redis://"+os.Getenv("REDIS_SENTINEL_MASTER")), "/"))
	pool.Dial = func() (redis.Conn, error) {
		addr, err := guide.MasterAddr()
		if err != nil {
			return nil, err
		}
		return redis.Dial("tcp", addr, redis.DialPassword(secret("REDIS_PASSWORD")), redis.DialDatabase(db),
			redis.DialConnectTimeout(timeout), redis.DialReadTimeout(envSeconds("REDIS_READ_TIMEOUT", 1)),
			redis.DialWriteTimeout(envSeconds("REDIS_WRITE_TIMEOUT", 1)))
	}
	pool.TestOnBorrow = func(c redis.Conn, _ time.Time) error {
		if !sentinel.TestRole(c, "master") {
			return fmt.Errorf("the queue's node is no longer its master")
		}
		return nil
	}
	return pool
}

// newJobID is 32 random hex digits.
func newJobID() string {
	b := make([]byte, 16)
	crand.Read(b)
	return hex.EncodeToString(b)
}

// enqueue is LPUSH, and with REDIS_WAIT_REPLICAS the WAIT for that many replicas on the same
// connection (WAIT counts its own connection's writes). With fewer replicas connected than asked
// the job is accepted and counted, as Patroni's non-strict synchronous mode commits without a
// standby; a connected replica that has not acknowledged within REDIS_WAIT_TIMEOUT_MS fails it.
func enqueue(q redis.Conn, job string, unreplicated func()) error {
	replicas := envInt("REDIS_WAIT_REPLICAS", 0)
	if replicas == 0 {
		_, err := q.Do("LPUSH", jobsKey, job)
		return err
	}
	q.Send("LPUSH", jobsKey, job)
	q.Send("WAIT", replicas, envInt("REDIS_WAIT_TIMEOUT_MS", 1000))
	if err := q.Flush(); err != nil {
		return err
	}
	if _, err := q.Receive(); err != nil {
		return err
	}
	acknowledged, err := redis.Int(q.Receive())
	if err != nil || acknowledged >= replicas {
		return err
	}
	role, err := redis.Values(q.Do("ROLE"))
	if err != nil || len(role) < 3 {
		return fmt.Errorf("ROLE: %v", err)
	}
	connected, _ := redis.Values(role[2], nil)
	if len(connected) >= replicas {
		return fmt.Errorf("%d of %d connected replica(s) acknowledged the job in time", acknowledged, len(connected))
	}
	unreplicated()
	return nil
}

// report is what a process really runs with: read back from database/sql and the Go runtime,
// never from the environment; the session's timeouts as PostgreSQL shows them to its role.
func report(db *sql.DB) (map[string]any, error) {
	var user, statement, lock string
	err := db.QueryRow("SELECT current_user, current_setting('statement_timeout'), current_setting('lock_timeout')").
		Scan(&user, &statement, &lock)
	if err != nil {
		return nil, err
	}
	stats := db.Stats()
	return map[string]any{
		"pid": os.Getpid(), "go": runtime.Version(),
		"max_open_conns": stats.MaxOpenConnections,
		// database/sql keeps these private: the values it was given, as the process got them.
		"max_idle_conns":             envInt("DB_MAX_IDLE_CONNS", 5),
		"conn_max_lifetime_seconds":  envDuration("DB_CONN_MAX_LIFETIME", 30*time.Minute).Seconds(),
		"conn_max_idle_time_seconds": envDuration("DB_CONN_MAX_IDLE_TIME", 5*time.Minute).Seconds(),
		"gomaxprocs":                 runtime.GOMAXPROCS(0),
		"memory_limit":               debug.SetMemoryLimit(-1), // -1 reads the limit without changing it
		"database_user":              user, "statement_timeout": statement, "lock_timeout": lock,
	}, nil
}

func reply(w http.ResponseWriter, status int, body any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-App-Version", env("APP_VERSION", "dev"))
	w.Header().Set("X-Track", env("TUNESTACK_TRACK", "stable"))
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}

// trusted: a loopback caller with the runtime token, compared in constant time.
func trusted(r *http.Request) bool {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	token := secret("TUNESTACK_RUNTIME_TOKEN")
	given := r.Header.Get("X-Tunestack-Token")
	return err == nil && net.ParseIP(host).IsLoopback() && token != "" &&
		subtle.ConstantTimeCompare([]byte(given), []byte(token)) == 1
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) { s.status = code; s.ResponseWriter.WriteHeader(code) }

func web() {
	db := openDB()
	cache := redisPool("REDIS_CACHE_URL", "REDIS_CACHE_PASSWORD", "REDIS_CACHE_CONNECT_TIMEOUT", envInt("REDIS_POOL_SIZE", 8))
	queue := queuePool(envInt("REDIS_POOL_SIZE", 8))
	faults, _ := strconv.ParseFloat(env("APP_FAULT_RATE", "0"), 64)
	latency := time.Duration(envInt("APP_EXTRA_LATENCY_MS", 0)) * time.Millisecond
	m := newMetrics(db, queue)
	requestTimeout := envSeconds("REQUEST_TIMEOUT", 30)

	mux := http.NewServeMux()
	mux.HandleFunc("/health", func(w http.ResponseWriter, r *http.Request) { reply(w, 200, map[string]bool{"ok": true}) })
	mux.HandleFunc("/version", func(w http.ResponseWriter, r *http.Request) {
		reply(w, 200, map[string]string{"version": env("APP_VERSION", "dev"), "track": env("TUNESTACK_TRACK", "stable")})
	})
	mux.Handle("/_tunestack/metrics", promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{}))
	mux.HandleFunc("/_tunestack/runtime", func(w http.ResponseWriter, r *http.Request) {
		if !trusted(r) {
			reply(w, 404, map[string]string{"error": "not found"})
			return
		}
		body, err := report(db)
		if err != nil {
			reply(w, 503, map[string]string{"error": "database: " + err.Error()})
			return
		}
		body["request_timeout"] = requestTimeout.Seconds()
		if nonce := r.URL.Query().Get("job"); nonce != "" {
			if !nonceShape.MatchString(nonce) {
				reply(w, 400, map[string]string{"error": "job: 16-64 lowercase hex digits"})
				return
			}
			body["job"], err = jobReport(queue, nonce)
			if err != nil {
				reply(w, 503, map[string]string{"error": "queue: " + err.Error()})
				return
			}
		}
		reply(w, 200, body)
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if latency > 0 {
			time.Sleep(latency)
		}
		if rand.Float64() < faults {
			reply(w, 500, map[string]string{"error": "injected fault (APP_FAULT_RATE)"})
			return
		}
		var hits int
		if err := db.QueryRowContext(r.Context(), "SELECT count(*) FROM hits").Scan(&hits); err != nil {
			reply(w, 503, map[string]string{"error": "database: " + err.Error()})
			return
		}
		c := cache.Get()
		defer c.Close()
		key := fmt.Sprintf("page:%d", rand.Intn(100))
		cached, err := redis.String(c.Do("GET", key))
		m.cacheReads.WithLabelValues(map[bool]string{true: "miss", false: "hit"}[err == redis.ErrNil]).Inc()
		if err == redis.ErrNil {
			_, err = c.Do("SET", key, strconv.Itoa(hits), "EX", 60)
		}
		if err != nil {
			reply(w, 503, map[string]string{"error": "cache: " + err.Error()})
			return
		}
		q := queue.Get()
		defer q.Close()
		job := newJobID() // named in the answer: a client can find its job in the queue
		if err := enqueue(q, fmt.Sprintf(`{"at": %d, "id": %q}`, time.Now().Unix(), job), m.queueUnreplicated.Inc); err != nil {
			reply(w, 503, map[string]string{"error": "queue: " + err.Error()})
			return
		}
		reply(w, 200, map[string]any{"hits": hits, "cached": cached != "", "job": job})
	})
	// The request timeout, inside the app: a request still running then is answered 503.
	timed := http.TimeoutHandler(mux, requestTimeout, `{"error": "request timeout"}`)
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/_tunestack/") || r.URL.Path == "/health" {
			mux.ServeHTTP(w, r) // the probes are not the traffic the alerts judge
			return
		}
		start, rec := time.Now(), &statusRecorder{ResponseWriter: w, status: 200}
		timed.ServeHTTP(rec, r)
		m.observe(rec.status, time.Since(start))
	})
	bind := env("BIND", "127.0.0.1:"+env("PORT", "8000"))
	server := &http.Server{Addr: bind, Handler: handler, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		stop := make(chan os.Signal, 1)
		signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
		<-stop
		_ = server.Close()
	}()
	log.Printf("serving on %s (GOMAXPROCS %d, memory limit %d)", bind, runtime.GOMAXPROCS(0), debug.SetMemoryLimit(-1))
	if err := server.ListenAndServe(); err != nil && err != http.ErrServerClosed {
		log.Fatal(err)
	}
}

// jobReport asks a job process for its own runtime report: the first call enqueues a report job,
// later calls return what it wrote (nil until then).
func jobReport(queue *redis.Pool, nonce string) (any, error) {
	c := queue.Get()
	defer c.Close()
	raw, err := redis.Bytes(c.Do("GET", reportKeyStart+nonce))
	if err == redis.ErrNil {
		_, err = c.Do("LPUSH", jobsKey, fmt.Sprintf(`{"report": %q}`, nonce))
		return nil, err
	}
	if err != nil {
		return nil, err
	}
	var out any
	return out, json.Unmarshal(raw, &out)
}

// Reliable queue (Redis docs, LMOVE: "Pattern: Reliable queue"): a job moves atomically from the
// queue into this process's processing list and leaves it only once its row is committed. A job
// whose database is away is retried with backoff; after giveUp without progress the process exits
// non-zero and its process manager starts it again. Every process keeps a heartbeat key and puts
// back the jobs of processing lists whose heartbeat has expired (a process that died).
const (
	processingPrefix = "jobs:processing:" // + worker id
	alivePrefix      = "jobs:worker:"     // + worker id: the heartbeat
	heartbeatTTL     = 15                 // seconds
	beatEvery        = 5 * time.Second
)

var backoffs = []time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 500 * time.Millisecond, time.Second, 2 * time.Second}

func giveUp() time.Duration { return envSeconds("JOB_GIVE_UP_SECONDS", 60) }

// requeueOrphans puts the jobs of dead workers back at the end the workers take from next.
func requeueOrphans(c redis.Conn) error {
	// SCAN, not KEYS: KEYS walks the whole keyspace in one command and blocks every other client
	// of the queue while it runs (Redis docs, KEYS: "don't use KEYS in your regular application code").
	var keys []string
	for cursor := "0"; ; {
		reply, err := redis.Values(c.Do("SCAN", cursor, "MATCH", processingPrefix+"*", "COUNT", 100))
		if err != nil {
			return err
		}
		batch, err := redis.Strings(reply[1], nil)
		if err != nil {
			return err
		}
		keys = append(keys, batch...)
		if cursor, err = redis.String(reply[0], nil); err != nil || cursor == "0" {
			break
		}
	}
	for _, key := range keys {
		alive, err := redis.Bool(c.Do("EXISTS", alivePrefix+strings.TrimPrefix(key, processingPrefix)))
		if err != nil || alive {
			continue
		}
		for {
			if _, err := redis.String(c.Do("LMOVE", key, jobsKey, "RIGHT", "RIGHT")); err != nil {
				break // redis.ErrNil: that list is empty
			}
		}
	}
	return nil
}

func heartbeat(queue *redis.Pool, id string) {
	for {
		c := queue.Get()
		if _, err := c.Do("SET", alivePrefix+id, "1", "EX", heartbeatTTL); err == nil {
			_ = requeueOrphans(c)
		}
		c.Close()
		time.Sleep(beatEvery)
	}
}

// retry runs step until it succeeds, backing off; after giveUp without success the process exits
// non-zero (the job stays in the processing list, and is put back once the heartbeat expires).
func retry(what string, step func() error) {
	var since time.Time
	for attempt := 0; ; attempt++ {
		err := step()
		if err == nil {
			return
		}
		if since.IsZero() {
			since = time.Now()
		}
		if time.Since(since) > giveUp() {
			log.Printf("%s: giving up after %v: %v", what, giveUp(), err)
			os.Exit(1)
		}
		log.Printf("%s: %v; retrying", what, err)
		time.Sleep(backoffs[min(attempt, len(backoffs)-1)])
	}
}

func min(a, b int) int {
	if a < b {
		return a
	}
	return b
}

// jobs: JOB_CONCURRENCY workers take jobs from a channel of JOB_QUEUE_BOUND; beyond that, jobs
// wait in the queue Redis, where they survive a restart.
func jobs() {
	db := openDB()
	queue := queuePool(envInt("REDIS_POOL_SIZE", 4))
	host, _ := os.Hostname()
	id := fmt.Sprintf("%s:%d", host, os.Getpid())
	processing := processingPrefix + id
	concurrency := envInt("JOB_CONCURRENCY", 10)
	work := make(chan string, envInt("JOB_QUEUE_BOUND", 100))
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	go heartbeat(queue, id)
	var wg sync.WaitGroup
	for i := 0; i < concurrency; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for job := range work {
				retry("job", func() error { return run(db, queue, job, concurrency) })
				retry("acknowledge", func() error {
					c := queue.Get()
					defer c.Close()
					_, err := c.Do("LREM", processing, 1, job)
					return err
				})
			}
		}()
	}
	log.Printf("%d job workers (GOMAXPROCS %d, memory limit %d)", concurrency, runtime.GOMAXPROCS(0), debug.SetMemoryLimit(-1))
	var failingSince time.Time
	for {
		select {
		case <-stop:
			close(work) // the workers finish what they hold; the rest stays in Redis
			wg.Wait()
			return
		default:
		}
		c := queue.Get()
		// A blocking move waits up to its own timeout before the reply: read for that long, plus the plan's read timeout.
		job, err := redis.String(redis.DoWithTimeout(c, blockFor+envSeconds("REDIS_READ_TIMEOUT", 1), "BLMOVE", jobsKey,
			processing, "RIGHT", "LEFT", blockFor.Seconds()))
		c.Close()
		if err == nil {
			failingSince = time.Time{}
			work <- job
		} else if err != redis.ErrNil {
			if failingSince.IsZero() {
				failingSince = time.Now()
			} else if time.Since(failingSince) > giveUp() {
				log.Printf("queue: giving up after %v: %v", giveUp(), err)
				os.Exit(1)
			}
			log.Printf("queue: %v", err)
			time.Sleep(time.Second)
		} else {
			failingSince = time.Time{}
		}
	}
}

// run does one job; an error means it is not done and must be tried again.
func run(db *sql.DB, queue *redis.Pool, job string, concurrency int) error {
	var msg struct {
		Report string `json:"report"`
	}
	if json.Unmarshal([]byte(job), &msg) == nil && nonceShape.MatchString(msg.Report) {
		body, err := report(db)
		if err != nil {
			return err
		}
		body["concurrency"] = concurrency
		body["queue_bound"] = envInt("JOB_QUEUE_BOUND", 100)
		raw, _ := json.Marshal(body)
		c := queue.Get()
		defer c.Close()
		_, err = c.Do("SET", reportKeyStart+msg.Report, raw, "EX", reportTTL)
		return err
	}
	_, err := db.Exec("INSERT INTO hits DEFAULT VALUES")
	return err
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == "jobs" {
		jobs()
		return
	}
	web()
}
