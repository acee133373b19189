package main

// The metrics tunestack's alerts read (tunestack/plan/alerts.py), under the same names in every
// reference app: request latency as a histogram (for p95), requests by status class, the DB pool's
// use against its size, cache hits and misses, and the job queue's depth.

import (
	"database/sql"
	"fmt"
	"time"

	"github.com/gomodule/redigo/redis"
	"github.com/prometheus/client_golang/prometheus"
)

// LatencyBuckets cover the rollout gates (100-500 ms) finely and the request timeout coarsely.
var LatencyBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.3, 0.5, 1, 2.5, 5, 10, 30}

type metrics struct {
	registry   *prometheus.Registry
	latency    prometheus.Histogram
	requests   *prometheus.CounterVec
	cacheReads *prometheus.CounterVec
	// enqueues accepted with fewer replicas connected than REDIS_WAIT_REPLICAS asks (plan/queueha.py)
	queueUnreplicated prometheus.Counter
}

func newMetrics(db *sql.DB, queue *redis.Pool) *metrics {
	m := &metrics{
		registry: prometheus.NewRegistry(),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "tunestack_http_request_duration_seconds", Help: "Time to answer a request.",
			Buckets: LatencyBuckets}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tunestack_http_requests_total", Help: "Requests answered, by status class."}, []string{"code"}),
		cacheReads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tunestack_cache_reads_total", Help: "Cache reads, by hit or miss."}, []string{"result"}),
		queueUnreplicated: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tunestack_queue_unreplicated_total", Help: "Enqueues accepted with no replica to wait for."}),
	}
	m.registry.MustRegister(m.latency, m.requests, m.cacheReads, m.queueUnreplicated,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "tunestack_db_pool_in_use_connections", Help: "Pool connections lent out now."},
			func() float64 { return float64(db.Stats().InUse) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "tunestack_db_pool_max_connections", Help: "The pool's size (SetMaxOpenConns)."},
			func() float64 { return float64(db.Stats().MaxOpenConnections) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "tunestack_job_queue_depth", Help: "Jobs waiting in the queue Redis."},
			func() float64 {
				c := queue.Get()
				defer c.Close()
				n, err := redis.Int(c.Do("LLEN", jobsKey))
				if err != nil {
					return -1 // visible as impossible, never as an empty queue
				}
				return float64(n)
			}))
	return m
}

func (m *metrics) observe(status int, took time.Duration) {
	m.latency.Observe(took.Seconds())
	m.requests.WithLabelValues(fmt.Sprintf("%dxx", status/100)).Inc()
}
