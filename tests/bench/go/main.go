// The runtime workloads of tests/bench, in Go, for side-by-side ratios.
// Each prints one line: "<name> ns_per_op=<float>" (or bytes_per_task).
package main

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

func arg(i int, def int) int {
	if len(os.Args) > i {
		if v, err := strconv.Atoi(os.Args[i]); err == nil {
			return v
		}
	}
	return def
}

func pingpong(n int) {
	a, b := make(chan int), make(chan int)
	go func() {
		for v := range a {
			b <- v
		}
	}()
	t0 := time.Now()
	for i := 0; i < n; i++ {
		a <- i
		<-b
	}
	fmt.Printf("pingpong ns_per_op=%.1f\n", float64(time.Since(t0).Nanoseconds())/float64(n))
}

func spawn(n int) {
	var wg sync.WaitGroup
	t0 := time.Now()
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() { wg.Done() }()
	}
	wg.Wait()
	fmt.Printf("spawn ns_per_op=%.1f\n", float64(time.Since(t0).Nanoseconds())/float64(n))
}

func buffered(n int) {
	c := make(chan int, 1024)
	done := make(chan bool)
	go func() {
		s := 0
		for v := range c {
			s += v
		}
		_ = s
		done <- true
	}()
	t0 := time.Now()
	for i := 0; i < n; i++ {
		c <- i
	}
	close(c)
	<-done
	fmt.Printf("buffered ns_per_op=%.1f\n", float64(time.Since(t0).Nanoseconds())/float64(n))
}

func mutex(n int) {
	var mu sync.Mutex
	var wg sync.WaitGroup
	counter := 0
	t0 := time.Now()
	for t := 0; t < 8; t++ {
		wg.Add(1)
		go func() {
			for i := 0; i < n; i++ {
				mu.Lock()
				counter++
				mu.Unlock()
			}
			wg.Done()
		}()
	}
	wg.Wait()
	fmt.Printf("mutex ns_per_op=%.1f\n", float64(time.Since(t0).Nanoseconds())/float64(8*n))
}

func rssBytes() int64 {
	data, _ := os.ReadFile("/proc/self/status")
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, "VmRSS:") {
			f := strings.Fields(line)
			v, _ := strconv.ParseInt(f[1], 10, 64)
			return v * 1024
		}
	}
	return 0
}

func parked(n int) {
	c := make(chan int)
	runtime.GC()
	before := rssBytes()
	for i := 0; i < n; i++ {
		go func() { <-c }()
	}
	for runtime.NumGoroutine() < n+1 {
		time.Sleep(time.Millisecond)
	}
	runtime.GC()
	after := rssBytes()
	fmt.Printf("parked bytes_per_task=%.0f\n", float64(after-before)/float64(n))
	close(c)
}

// Tasks that stay alive: each is spawned and parks, so each needs a stack
// of its own; timed until every one has started.
func spawnpark(n int) {
	c := make(chan int)
	var started atomic.Int64
	t0 := time.Now()
	for i := 0; i < n; i++ {
		go func() {
			started.Add(1)
			<-c
		}()
	}
	for started.Load() < int64(n) {
		runtime.Gosched()
	}
	fmt.Printf("spawnpark ns_per_op=%.1f\n", float64(time.Since(t0).Nanoseconds())/float64(n))
}

// A daisy chain of n tasks, each passing one value on to the next: spawned,
// then one pass through it.
func chain(n int) {
	t0 := time.Now()
	first := make(chan int)
	left := first
	for i := 0; i < n; i++ {
		right := make(chan int)
		go func(l, r chan int) { r <- 1 + <-l }(left, right)
		left = right
	}
	first <- 0
	<-left
	fmt.Printf("chain ns_per_op=%.1f\n", float64(time.Since(t0).Nanoseconds())/float64(n))
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: gobench pingpong|spawn|buffered|mutex|parked|spawnpark|chain [N]")
		os.Exit(2)
	}
	switch os.Args[1] {
	case "pingpong":
		pingpong(arg(2, 1000000))
	case "spawn":
		spawn(arg(2, 1000000))
	case "buffered":
		buffered(arg(2, 10000000))
	case "mutex":
		mutex(arg(2, 1000000))
	case "parked":
		parked(arg(2, 1000000))
	case "spawnpark":
		spawnpark(arg(2, 100000))
	case "chain":
		chain(arg(2, 10000))
	default:
		fmt.Fprintln(os.Stderr, "unknown workload", os.Args[1])
		os.Exit(2)
	}
}
