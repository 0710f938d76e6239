package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"github.com/hermes-agent/hermes/internal/buildinfo"
	"github.com/hermes-agent/hermes/internal/control"
	"github.com/hermes-agent/hermes/internal/gateway"
	"github.com/hermes-agent/hermes/internal/hostenv"
	"github.com/hermes-agent/hermes/internal/profiles"
)

func newDumpCmd(e *Env) *cobra.Command {
	var asJSON bool
	c := &cobra.Command{
		Use:   "dump [--json]",
		Short: "print a support summary (no secrets)",
		Long:  "A support summary to paste into a support request (no secrets); its version:\nline ends with the commit in brackets.",
		RunE:  func(c *cobra.Command, _ []string) error { return runDump(c.Context(), e, asJSON) },
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print the summary as JSON")
	return c
}

// dumpInfo is what hermes dump reports; --json prints it as it is. Nothing
// in it is secret.
type dumpInfo struct {
	Version      string           `json:"version"`
	Commit       string           `json:"commit"`
	CommitShort  string           `json:"commit_short"`
	CommitSource string           `json:"commit_source,omitempty"`
	Go           string           `json:"go"`
	Platform     string           `json:"platform"`
	Container    bool             `json:"container"`
	UID          int              `json:"uid"`
	GID          int              `json:"gid"`
	HermesUser   *hostenv.IDs     `json:"hermes_user"`
	HermesError  string           `json:"hermes_user_error,omitempty"`
	Home         string           `json:"home,omitempty"`
	HomeError    string           `json:"home_error,omitempty"`
	HomeDetail   string           `json:"home_detail,omitempty"`
	Supervisor   dumpSupervisorJS `json:"supervisor"`
	Services     []dumpService    `json:"services"`
	ServicesErr  string           `json:"services_error,omitempty"`
	Profiles     []dumpProfile    `json:"profiles"`
	ProfilesErr  string           `json:"profiles_error,omitempty"`
	Disk         *dumpDisk        `json:"disk,omitempty"`
}

// dumpSupervisorJS is the supervisor as dump finds it.
type dumpSupervisorJS struct {
	Socket    string          `json:"socket"`
	Answering bool            `json:"answering"`
	Health    *control.Health `json:"health,omitempty"`
}

// dumpService is one service of dump.
type dumpService struct {
	Name        string `json:"name"`
	Want        string `json:"want"`
	State       string `json:"state"`
	PID         int    `json:"pid"`
	Restarts    int    `json:"restarts"`
	LogLines    uint64 `json:"log_lines"`
	LogDropped  uint64 `json:"log_dropped"`
	WriteErrors uint64 `json:"log_write_errors"`
}

// dumpProfile is one profile of dump.
type dumpProfile struct {
	Name     string `json:"name"`
	Port     int    `json:"port,omitempty"`
	Gateway  string `json:"gateway"`
	PIDLock  string `json:"pid_lock"`
	Recorded string `json:"recorded,omitempty"`
	Desired  string `json:"desired,omitempty"`
}

// dumpDisk is the free space of HERMES_HOME's file system.
type dumpDisk struct {
	FreeBytes  uint64 `json:"free_bytes"`
	TotalBytes uint64 `json:"total_bytes"`
}

// runDump is `hermes dump [--json]` (CONTRACT §8): what a person filing a
// support request pastes. Its "version:" line ends with the commit in
// brackets, "[<8-hex sha>]" or "[(unknown)]". Nothing secret is printed.
func runDump(ctx context.Context, e *Env, asJSON bool) error {
	d := gatherDump(ctx, e)
	if asJSON {
		return printJSON(e.Stdout, d)
	}
	writeDump(e.Stdout, d)
	return nil
}

func gatherDump(ctx context.Context, e *Env) dumpInfo {
	sha, source := buildinfo.Commit()
	d := dumpInfo{
		Version: buildinfo.Version(), Commit: sha, CommitShort: buildinfo.Short(), CommitSource: source,
		Go: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH,
		Container: e.Host.InContainer(), UID: os.Getuid(), GID: os.Getgid(),
		Services: []dumpService{}, Profiles: []dumpProfile{},
	}
	if ids, err := e.Host.HermesIDs(os.Getgid); err == nil {
		d.HermesUser = &ids
	} else {
		d.HermesError = err.Error()
	}
	home, err := e.Host.Home()
	if err != nil {
		d.HomeError = err.Error()
		return d
	}
	d.Home, d.HomeDetail = home, strings.TrimSuffix(strings.TrimPrefix(describePath(home), " ("), ")")
	dumpSupervisor(ctx, e, &d)
	names, err := profiles.List(home)
	if err != nil {
		d.ProfilesErr = err.Error()
	}
	for _, ref := range names {
		o := gateway.Observe(ref, nil)
		dp := dumpProfile{Name: ref.Name(), Gateway: o.State, PIDLock: o.Lock, Desired: o.File.DesiredState}
		if r := o.File.GatewayState; r != o.State {
			dp.Recorded = r
		}
		if n, err := profiles.Port(ref); err == nil {
			dp.Port = n
		}
		d.Profiles = append(d.Profiles, dp)
	}
	var fsst unix.Statfs_t
	if unix.Statfs(home, &fsst) == nil {
		d.Disk = &dumpDisk{FreeBytes: fsst.Bavail * uint64(fsst.Bsize), TotalBytes: fsst.Blocks * uint64(fsst.Bsize)}
	}
	return d
}

// writeDump prints dump's text: one "key: value" line each.
func writeDump(w io.Writer, d dumpInfo) {
	fmt.Fprintf(w, "version: hermes %s [%s]\n", d.Version, d.CommitShort)
	if d.Commit != "" {
		fmt.Fprintf(w, "commit: %s (from %s)\n", d.Commit, d.CommitSource)
	}
	fmt.Fprintf(w, "go: %s %s\n", d.Go, d.Platform)
	fmt.Fprintf(w, "container: %v\n", d.Container)
	fmt.Fprintf(w, "user: uid %d gid %d\n", d.UID, d.GID)
	if ids := d.HermesUser; ids != nil {
		fmt.Fprintf(w, "hermes user: %d:%d (%s)\n", ids.UID, ids.GID, ids.Source)
	} else {
		fmt.Fprintf(w, "hermes user: %s\n", d.HermesError)
	}
	if d.HomeError != "" {
		fmt.Fprintf(w, "home: %s\n", d.HomeError)
		return
	}
	fmt.Fprintf(w, "home: %s (%s)\n", d.Home, d.HomeDetail)
	if h := d.Supervisor.Health; h != nil {
		fmt.Fprintf(w, "supervisor: %s (boot %s, owner %v, pid1 %v, %s)\n", d.Supervisor.Socket, h.Boot, h.Owner, h.PID1, h.Version)
	} else {
		fmt.Fprintf(w, "supervisor: none answering on %s\n", d.Supervisor.Socket)
	}
	if d.ServicesErr != "" {
		fmt.Fprintf(w, "services: %s\n", d.ServicesErr)
	}
	for _, st := range d.Services {
		fmt.Fprintf(w, "service %s: want %s, %s, pid %d, restarts %d, logs %d lines %d dropped %d write errors\n",
			st.Name, st.Want, st.State, st.PID, st.Restarts, st.LogLines, st.LogDropped, st.WriteErrors)
	}
	if d.ProfilesErr != "" {
		fmt.Fprintf(w, "profiles: %s\n", d.ProfilesErr)
	}
	for _, p := range d.Profiles {
		port := "?"
		if p.Port != 0 {
			port = fmt.Sprint(p.Port)
		}
		fmt.Fprintf(w, "profile %s: port %s, gateway %s\n", p.Name, port, describeGateway(gateway.Observation{
			State: p.Gateway, Lock: p.PIDLock, File: gateway.State{GatewayState: p.Recorded, DesiredState: p.Desired},
		}))
	}
	if d.Disk != nil {
		fmt.Fprintf(w, "disk: %.1f GiB free of %.1f GiB\n", float64(d.Disk.FreeBytes)/(1<<30), float64(d.Disk.TotalBytes)/(1<<30))
	}
}

// describeGateway is a gateway's state as dump prints it: the state every
// reader shows, then the pid lock, and what the file records when it says
// otherwise.
func describeGateway(o gateway.Observation) string {
	s := o.State + " (pid lock " + o.Lock
	if r := o.File.GatewayState; r != "" && r != o.State {
		s += ", recorded " + r
	}
	if d := o.File.DesiredState; d != "" {
		s += ", desired " + d
	}
	return s + ")"
}

func dumpSupervisor(ctx context.Context, e *Env, d *dumpInfo) {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	c := e.gatewayClient(ctx)
	d.Supervisor.Socket = c.Path()
	h, err := c.Health(ctx)
	if err != nil {
		return
	}
	d.Supervisor.Answering, d.Supervisor.Health = true, &h
	list, err := c.List(ctx)
	if err != nil {
		d.ServicesErr = err.Error()
		return
	}
	for _, st := range list {
		d.Services = append(d.Services, dumpService{
			Name: st.Name, Want: string(st.Want), State: string(st.State), PID: st.PID, Restarts: st.Restarts,
			LogLines: st.Logs.Lines, LogDropped: st.Logs.Dropped, WriteErrors: st.Logs.WriteErrors,
		})
	}
}

// describePath is " (owner uid:gid, mode 0755)" or " (missing)".
func describePath(p string) string {
	fi, err := os.Stat(p)
	if err != nil {
		return " (" + err.Error() + ")"
	}
	st := fi.Sys().(*syscall.Stat_t)
	return fmt.Sprintf(" (owner %d:%d, mode %04o)", st.Uid, st.Gid, fi.Mode().Perm())
}
