// Package profiles owns the on-disk shape of hermes profiles (CONTRACT §2, §5):
// names, directories, the seeds of a new profile, its config.yaml and .env,
// the gateway port of each profile, and creation and deletion.
//
// Layout. HERMES_HOME is the root and the "default" profile; a named profile
// lives in HERMES_HOME/profiles/<name>/ and has the same shape as the root:
//
//	SOUL.md        profile marker and persona: a profile exists iff this file exists
//	config.yaml    profile configuration (0640); Keys is the table of the keys hermes reads
//	.env           secrets such as API_SERVER_KEY (0600)
//	memories/ sessions/ skills/ skins/ plans/ workspace/ cron/ home/ logs/
//
// The root alone holds active_profile (the sticky profile), profiles/.lock
// (the flock that serialises create, delete and port allocation) and every
// gateway's log, under logs/gateways/<profile>/ (LogDir).
//
// One table. Layout is every file and directory of that tree with its
// owner, mode, scope (per profile, or the root alone) and use (managed by
// the boot's preflight and repair, seeded at boot, created with a profile,
// guarded by hermes doctor, opened by path by a gateway). The volume's
// preflight, repair and seeding, Create, hermes doctor and the gateway's
// root checks iterate it; every package that names one of its files takes
// the name from here (FileConfig, FileGatewayState, ...), and LogFile
// builds the log file of every service.
//
// One validator. Validate is the only profile-name check in hermes (CONTRACT
// §1 rule 5), and ValidateNamed adds the one extra rule of create and delete
// (the root profile "default" is neither created nor deleted). Parse runs
// it once, where a name comes in (the CLI's -p and sticky profile through
// Resolve, a dashboard's ?profile=, the control API's path, List's
// directories), and makes a Ref: the one value of a profile that every
// function acting on one takes, which it trusts without validating again.
//
// One table of keys. Keys lists every key of config.yaml hermes reads, with
// its type, default, range, description and when a running gateway takes a
// change; Config.Set validates against it and refuses every other key, the
// readers fill in its defaults, KeySchema and KeyDefaults serve it to the
// dashboard and DefaultConfig writes it as a new profile's comments.
//
// One builder per seed. DefaultSOUL, DefaultConfig and EnvFile produce the
// seeds of a profile; Create uses them, and so does the boot seeding of the
// root profile.
//
// One writer of .env. EnvDoc is a .env as lines, comments and order kept;
// EnvEdit (and EnvSet, EnvUnset, EnvRotateAPIKey on it) changes one under
// the profiles lock and replaces it atomically, mode 0600, as the hermes
// uid also when root runs it; a broken line is named and the file left
// alone. The CLI's hermes env and the dashboard's /api/env both use them;
// EnvVars lists a .env masked (Mask), Fingerprint identifies a key.
//
// One cloner. Clone makes a profile from another (config.yaml with its own
// port, SOUL.md, .env with a fresh key; with All, the rest of its
// directory) and keeps its description (FileDescription).
//
// One reader of the orchestrator's key. EnvAPIKey is API_SERVER_KEY or the
// file API_SERVER_KEY_FILE names, checked by CheckAPIKey: the first boot
// seeds it into the root's .env and a gateway whose .env has none uses it.
//
// Everything here runs as the hermes uid (the CLI drops root before it runs
// a command), with plain file calls; file modes are set with chmod after
// creation so that the umask never matters. As root (a command kept as root
// with HERMES_DOCKER_EXEC_AS_ROOT, or init's reconciler listing the
// profiles) every operation below HERMES_HOME goes through safefs instead
// (tree): no symlink below the home is followed, a file read or written in
// place is a regular file with one link, and a planted link is an error
// wrapping safefs.ErrSymlink that names it (Lookup tells it apart from a
// missing profile). The package keeps no global mutable state.
package profiles
