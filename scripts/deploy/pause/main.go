// Command pause is the pod sandbox of the single-node test cluster (scripts/deploy/cluster.sh):
// PID 1 of every pod, it holds the pod's namespaces open, reaps orphaned children and exits 0
// on SIGINT/SIGTERM — what registry.k8s.io/pause does, built here because no registry is
// reachable.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGCHLD)
	for s := range sigs {
		if s != syscall.SIGCHLD {
			os.Exit(0)
		}
		for {
			pid, err := syscall.Wait4(-1, nil, syscall.WNOHANG, nil)
			if pid <= 0 || err != nil {
				break
			}
		}
	}
}
