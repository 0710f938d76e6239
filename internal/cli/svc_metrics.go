// hermes svc metrics, and the resource columns of hermes svc status.

package cli

import (
	"context"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/hermes-agent/hermes/internal/control"
	"github.com/hermes-agent/hermes/internal/supervise"
)

// newSvcMetricsCmd is hermes svc metrics: init's metrics (GET /v1/metrics)
// in the Prometheus text format, as a scraper reads them.
func newSvcMetricsCmd(e *Env) *cobra.Command {
	return &cobra.Command{
		Use:   "metrics",
		Short: "print the supervisor's Prometheus metrics",
		Long: `Prints init's metrics (the services, the boot, the control API's requests, init's
Go runtime and process) in the Prometheus text format, as GET /v1/metrics on the
control socket answers them. The services' resource figures (CPU, memory, fds,
threads) come from one reading of /proc that the scrapes share for 5 s; their
states and counters are read at each call. hermes svc status reads /proc now.`,
		RunE: func(c *cobra.Command, _ []string) error {
			return svcMetrics(c.Context(), e, e.localClient())
		},
	}
}

func svcMetrics(ctx context.Context, e *Env, c *control.Client) error {
	body, err := c.Metrics(ctx)
	if err != nil {
		return err
	}
	defer body.Close()
	_, err = io.Copy(e.Stdout, body)
	return err
}

// resourceHeader and resourceCells are the resource columns of the status
// table: CPU time, resident and proportional memory, open files and
// threads of the service's process group, "-" when no process runs.
const resourceHeader = "CPU\tRSS\tPSS\tFDS\tTHREADS"

func resourceCells(st supervise.Status) string {
	u := st.Resources
	if u == nil {
		return "-\t-\t-\t-\t-"
	}
	return fmt.Sprintf("%.2fs\t%s\t%s\t%d\t%d", u.CPUSeconds, bytesIEC(u.RSSBytes), bytesIEC(u.PSSBytes), u.OpenFDs, u.Threads)
}

// bytesIEC writes n as 512B, 3.4K, 12.0M, 1.2G (powers of 1024).
func bytesIEC(n uint64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%dB", n)
	}
	div, exp := uint64(unit), 0
	for m := n / unit; m >= unit && exp < 4; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f%c", float64(n)/float64(div), "KMGTP"[exp])
}
