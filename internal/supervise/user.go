// The user a service runs as: a spec's user field resolved to a uid and
// gid.

package supervise

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// passwdFile is read to resolve user names; a variable for tests.
var passwdFile = "/etc/passwd"

// ResolveUser turns a spec's user field into a uid and gid. "" is the hermes
// user; "root" is 0:0; "uid" or "uid:gid" are numeric; anything else is a
// name looked up in /etc/passwd (no NSS: the binary is static).
func ResolveUser(user string, hermesUID, hermesGID int) (uid, gid int, err error) {
	user = strings.TrimSpace(user)
	switch user {
	case "":
		return hermesUID, hermesGID, nil
	case "root":
		return 0, 0, nil
	case "hermes":
		// The image's user; remapped by HERMES_UID without editing /etc/passwd.
		return hermesUID, hermesGID, nil
	}
	if u, g, ok := strings.Cut(user, ":"); ok {
		uid, err1 := parseID(u)
		gid, err2 := parseID(g)
		if err1 != nil || err2 != nil {
			return 0, 0, fmt.Errorf("%w: user %q: want uid:gid with decimal ids", ErrInvalid, user)
		}
		return uid, gid, nil
	}
	if id, err := parseID(user); err == nil {
		if id == hermesUID {
			return hermesUID, hermesGID, nil
		}
		return id, id, nil
	}
	uid, gid, err = lookupName(user)
	if err != nil {
		return 0, 0, fmt.Errorf("%w: user %q: %v", ErrInvalid, user, err)
	}
	return uid, gid, nil
}

func parseID(s string) (int, error) {
	if s == "" || len(s) > 10 || strings.TrimLeft(s, "0123456789") != "" {
		return 0, fmt.Errorf("not a number")
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n > 2147483646 {
		return 0, fmt.Errorf("out of range")
	}
	return int(n), nil
}

func lookupName(name string) (int, int, error) {
	f, err := os.Open(passwdFile)
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Split(sc.Text(), ":")
		if len(fields) < 4 || fields[0] != name {
			continue
		}
		uid, err1 := parseID(fields[2])
		gid, err2 := parseID(fields[3])
		if err1 != nil || err2 != nil {
			return 0, 0, fmt.Errorf("malformed entry in %s", passwdFile)
		}
		return uid, gid, nil
	}
	if err := sc.Err(); err != nil {
		return 0, 0, err
	}
	return 0, 0, fmt.Errorf("no such user in %s", passwdFile)
}
