// The layout of HERMES_HOME and of a profile: the one table of their files
// and directories, with owner, mode and what hermes does with each.

package profiles

import (
	"os"
	"path/filepath"
	"slices"
)

// The names of the layout, relative to a profile's directory (HERMES_HOME
// for the default profile and for the entries of the root alone). Every
// package that opens one of them by name takes it from here.
const (
	FileSOUL          = "SOUL.md"
	FileConfig        = "config.yaml"
	FileEnv           = ".env"
	FileAuth          = "auth.json"
	FileAuthLock      = "auth.lock"
	FileSessions      = "state.db"
	FileSessionsWAL   = "state.db-wal"
	FileSessionsSHM   = "state.db-shm"
	FilePID           = "gateway.pid"
	FileGatewayLock   = "gateway.lock"
	FileGatewayState  = "gateway_state.json"
	FileProcesses     = "processes.json"
	FileActiveProfile = "active_profile"
	FileProfilesLock  = DirProfiles + "/.lock"
	FileOwnerLock     = DirRun + "/owner.lock"
	FileControlSocket = DirRun + "/control.sock"
	FileBootLog       = DirLogs + "/container-boot.log"
	// FileDescription is a profile's description (hermes profile create
	// --description): one line of text, for people.
	FileDescription = "description"

	DirLogs        = "logs"
	DirGatewayLogs = DirLogs + "/gateways"
	DirProfiles    = "profiles"
	DirRun         = "run"
	// DirServices holds the services saved with hermes svc add --save,
	// one NAME.yaml each, loaded at boot by the init that owns the home.
	DirServices = "services.d"
)

// Modes of the layout's entries, set regardless of the umask.
const (
	// DirMode is the mode of a profile directory and of the directories
	// of the layout (run/ aside).
	DirMode = 0o755
	// RunMode is the mode of HERMES_HOME/run.
	RunMode = 0o700
	// ConfigMode is the mode of config.yaml.
	ConfigMode = 0o640
	// EnvMode is the mode of .env: it holds secrets.
	EnvMode = 0o600
	// AuthMode is the mode of auth.json (credentials) and its lock.
	AuthMode = 0o600
	// SOULMode is the mode of SOUL.md.
	SOULMode = 0o644
	// StateMode is the mode of gateway_state.json, gateway.pid,
	// active_profile and the boot log.
	StateMode = 0o644
	// LockMode is the mode of the profiles' lock and the owner lock.
	LockMode = 0o600
	// SessionsMode is the mode of a profile's sessions store.
	SessionsMode = 0o600
	// LogMode is the mode of a service's log files (logpipe).
	LogMode = 0o640
)

// Owner says who owns an entry of the layout.
type Owner uint8

// The owners of the layout's entries.
const (
	// OwnerHermes: the hermes uid and gid (volume.Repair gives a managed
	// entry back to them; what root seeds is created theirs).
	OwnerHermes Owner = iota + 1
	// OwnerHome: whoever owns HERMES_HOME (the owner lock is created as
	// theirs, so that every container sharing the volume may open it).
	OwnerHome
	// OwnerInit: the init that publishes it (root, or the user running
	// init on the host).
	OwnerInit
)

func (o Owner) String() string {
	switch o {
	case OwnerHermes:
		return "hermes"
	case OwnerHome:
		return "home's owner"
	case OwnerInit:
		return "init"
	}
	return "?"
}

// Scope says where an entry is.
type Scope uint8

// The scopes of the layout's entries.
const (
	// PerProfile: in the directory of every profile, HERMES_HOME (the
	// default profile) included.
	PerProfile Scope = iota + 1
	// RootOnly: in HERMES_HOME alone.
	RootOnly
)

// Use is what hermes does with an entry, a set of bits.
type Use uint16

// The uses of the layout's entries.
const (
	// Managed: at the top of HERMES_HOME, volume.Preflight checks that
	// the hermes uid can use it and volume.Repair gives it (a directory:
	// its whole tree) to the hermes uid.
	Managed Use = 1 << iota
	// Seeded: volume.Seed creates the directory in HERMES_HOME at every
	// boot when it is missing (the files seeded on first boot have their
	// own builders: DefaultSOUL, DefaultConfig, EnvFile, ...).
	Seeded
	// Created: Create makes the directory in a new profile.
	Created
	// Guarded: hermes doctor fails when the file is not the hermes uid's
	// or its mode has a bit beyond Mode.
	Guarded
	// Opened: hermes opens the file by path in a profile's directory, so
	// a gateway running as root refuses it as a link (gateway.CheckFiles).
	Opened
)

// Entry is one file or directory of the layout.
type Entry struct {
	// Path is slash-separated, relative to the profile's directory
	// (HERMES_HOME for the default profile and for RootOnly entries).
	Path string
	// Dir is true for a directory, false for a file.
	Dir bool
	// Mode is the mode hermes creates it with; 0 for the reference's
	// files, which hermes keeps but never creates.
	Mode  os.FileMode
	Owner Owner
	Scope Scope
	Use   Use
}

// Is reports whether e has every bit of use.
func (e Entry) Is(use Use) bool { return e.Use&use == use }

// layout is the table: directories first, then files, each in the order
// the boot visits them.
var layout = [...]Entry{
	{"cron", true, DirMode, OwnerHermes, PerProfile, Managed | Seeded | Created},
	{"sessions", true, DirMode, OwnerHermes, PerProfile, Managed | Seeded | Created},
	{DirLogs, true, DirMode, OwnerHermes, PerProfile, Managed | Seeded | Created},
	{DirGatewayLogs, true, DirMode, OwnerHermes, RootOnly, Seeded},
	{"hooks", true, DirMode, OwnerHermes, RootOnly, Managed | Seeded},
	{"memories", true, DirMode, OwnerHermes, PerProfile, Managed | Seeded | Created},
	{"skills", true, DirMode, OwnerHermes, PerProfile, Managed | Seeded | Created},
	{"skins", true, DirMode, OwnerHermes, PerProfile, Managed | Seeded | Created},
	{"plans", true, DirMode, OwnerHermes, PerProfile, Managed | Seeded | Created},
	{"workspace", true, DirMode, OwnerHermes, PerProfile, Managed | Seeded | Created},
	{"home", true, DirMode, OwnerHermes, PerProfile, Managed | Seeded | Created},
	{DirProfiles, true, DirMode, OwnerHermes, RootOnly, Managed | Seeded},
	{"pairing", true, DirMode, OwnerHermes, RootOnly, Managed | Seeded},
	{"platforms/pairing", true, DirMode, OwnerHermes, RootOnly, Managed | Seeded},
	{"lazy-packages", true, DirMode, OwnerHermes, RootOnly, Managed},
	{DirRun, true, RunMode, OwnerHermes, RootOnly, Managed | Seeded},
	{DirServices, true, DirMode, OwnerHermes, RootOnly, Managed | Seeded},

	{FileSOUL, false, SOULMode, OwnerHermes, PerProfile, Managed | Opened},
	{FileConfig, false, ConfigMode, OwnerHermes, PerProfile, Managed | Guarded | Opened},
	{FileEnv, false, EnvMode, OwnerHermes, PerProfile, Managed | Guarded | Opened},
	{FileAuth, false, AuthMode, OwnerHermes, PerProfile, Managed | Opened},
	{FileAuthLock, false, AuthMode, OwnerHermes, PerProfile, Managed | Opened},
	{FileSessions, false, SessionsMode, OwnerHermes, PerProfile, Managed | Opened},
	{FileSessionsSHM, false, SessionsMode, OwnerHermes, PerProfile, Managed | Opened},
	{FileSessionsWAL, false, SessionsMode, OwnerHermes, PerProfile, Managed | Opened},
	{FilePID, false, StateMode, OwnerHermes, PerProfile, Managed | Opened},
	{FileGatewayLock, false, 0, OwnerHermes, PerProfile, Managed},
	{FileGatewayState, false, StateMode, OwnerHermes, PerProfile, Managed | Opened},
	{FileProcesses, false, 0, OwnerHermes, PerProfile, Managed | Opened},
	{FileDescription, false, SOULMode, OwnerHermes, PerProfile, Managed},
	{FileActiveProfile, false, StateMode, OwnerHermes, RootOnly, Managed},
	{FileProfilesLock, false, LockMode, OwnerHermes, RootOnly, 0},
	{FileOwnerLock, false, LockMode, OwnerHome, RootOnly, 0},
	{FileControlSocket, false, 0o666, OwnerInit, RootOnly, 0},
	{FileBootLog, false, StateMode, OwnerHermes, RootOnly, 0},
}

// Layout returns the entries of the layout that have every bit of use (all
// of them for 0), directories first, in the order the boot visits them.
func Layout(use Use) []Entry {
	var out []Entry
	for _, e := range layout {
		if e.Is(use) {
			out = append(out, e)
		}
	}
	return out
}

// Subdirs returns the directories of a new profile (the reference's
// create_profile made the same set): the Created entries. Gateway logs are
// not among them: they live under the root (LogDir).
func Subdirs() []string {
	var out []string
	for _, e := range Layout(Created) {
		out = append(out, e.Path)
	}
	return slices.Clip(out)
}

// LogDir is the directory of a profile's gateway log: every gateway's log
// lives under the root, in home/logs/gateways/<name>.
func LogDir(r Ref) string {
	return filepath.Join(r.home, DirGatewayLogs, r.name)
}

// LogFile builds every service's log file (CONTRACT §2), unless its spec
// names another: gateway, the profile whose gateway service is, logs in
// home/logs/gateways/<profile>/current; a service that is no gateway
// (gateway the zero Ref) in home/logs/<service>/current. gateway.LogFile,
// which knows the gateways' service names, is the function from any
// service's name to its log file; supervise asks this one, with the zero
// Ref, for a spec that names no file (a gateway's always does).
func LogFile(home, service string, gateway Ref) string {
	if !gateway.IsZero() {
		return filepath.Join(LogDir(gateway), "current")
	}
	return filepath.Join(home, DirLogs, service, "current")
}
