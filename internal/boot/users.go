// The image's hermes user remapped (HERMES_UID/PUID, HERMES_GID/PGID): its
// lines of /etc/passwd and /etc/group rewritten to the ids init runs it
// as, so that docker exec -u hermes is that user too.

package boot

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/hermes-agent/hermes/internal/safefs"
)

// DefaultEtcDir holds the image's passwd and group files.
const DefaultEtcDir = "/etc"

// imageUser is the image's name of the hermes user and of its group.
const imageUser = "hermes"

// maxAccountsFile bounds what is read of /etc/passwd or /etc/group.
const maxAccountsFile = 4 << 20

// account is one line of /etc/passwd or /etc/group, split at its colons.
type account []string

// accounts is an accounts file, line by line (the last one without its
// newline when the file ends without one).
type accounts struct {
	lines [][]byte
}

func parseAccounts(data []byte) accounts {
	var a accounts
	for len(data) > 0 {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			a.lines = append(a.lines, data)
			break
		}
		a.lines = append(a.lines, data[:i+1])
		data = data[i+1:]
	}
	return a
}

// find returns the index of name's line and its fields (-1 when absent).
func (a accounts) find(name string) (int, account) {
	for i, l := range a.lines {
		f := account(strings.Split(strings.TrimRight(string(l), "\n"), ":"))
		if len(f) >= 3 && f[0] == name {
			return i, f
		}
	}
	return -1, nil
}

// byID returns the name of another line than skip whose id (field 2) is id.
func (a accounts) byID(id int, skip string) string {
	want := strconv.Itoa(id)
	for _, l := range a.lines {
		f := strings.Split(strings.TrimRight(string(l), "\n"), ":")
		if len(f) >= 3 && f[0] != skip && f[2] == want {
			return f[0]
		}
	}
	return ""
}

// set replaces fields of line i (field index → value) and returns the file.
func (a accounts) set(i int, fields map[int]string) []byte {
	var out bytes.Buffer
	for j, l := range a.lines {
		if j != i {
			out.Write(l)
			continue
		}
		nl := bytes.HasSuffix(l, []byte("\n"))
		f := strings.Split(strings.TrimRight(string(l), "\n"), ":")
		for k, v := range fields {
			if k < len(f) {
				f[k] = v
			}
		}
		out.WriteString(strings.Join(f, ":"))
		if nl {
			out.WriteByte('\n')
		}
	}
	return out.Bytes()
}

// remap is the plan for the hermes user's lines: what they say now and
// what they are to say.
type remap struct {
	passwd, group       accounts
	pwLine, grLine      int // -1: no such line
	oldUID, oldGID      string
	oldGroupGID         string
	uid, gid            int
	uidSource           string
	passwdMode, grpMode os.FileMode
}

func (r remap) needed() bool {
	u, g := strconv.Itoa(r.uid), strconv.Itoa(r.gid)
	return r.pwLine >= 0 && (r.oldUID != u || r.oldGID != g) || r.grLine >= 0 && r.oldGroupGID != g
}

// remapUser rewrites the hermes lines of etc's passwd and group (CONTRACT
// §2, superseded by issue 13: no usermod, but the same effect) when the
// hermes uid or gid is remapped; run in a container only, and before
// anything else of the boot. A uid that another user of the image has is
// a configuration that cannot work (the error); a gid of another group is
// allowed (as groupmod -o). What cannot be done (not root, a read-only
// /etc, a bind-mounted file, a symlink) is one line on stderr, and the
// boot goes on.
func (b *boot) remapUser(etc string) error {
	d, err := safefs.OpenBase(etc)
	if err != nil {
		return nil // no /etc to speak of: nothing to keep in step
	}
	defer d.Close()
	r := remap{uid: b.ids.UID, gid: b.ids.GID, uidSource: b.ids.Source, pwLine: -1, grLine: -1}
	pw, mode, err := readAccounts(d, "passwd")
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		b.remapNotDone(filepath.Join(etc, "passwd"), err, r)
		return nil
	}
	r.passwd, r.passwdMode = pw, mode
	if i, f := pw.find(imageUser); i >= 0 && len(f) >= 4 {
		r.pwLine, r.oldUID, r.oldGID = i, f[2], f[3]
	}
	if gr, mode, err := readAccounts(d, "group"); err == nil {
		r.group, r.grpMode = gr, mode
		if i, f := gr.find(imageUser); i >= 0 {
			r.grLine, r.oldGroupGID = i, f[2]
		}
	}
	if !r.needed() {
		return nil
	}
	if !b.root {
		fmt.Fprintf(b.stderr, "hermes init: %s says hermes is %s:%s, but it runs as %d:%d: not rewritten (init is not root); docker exec -u hermes gets %s:%s, use docker exec -u %d:%d\n",
			filepath.Join(etc, "passwd"), r.oldUID, r.oldGID, r.uid, r.gid, r.oldUID, r.oldGID, r.uid, r.gid)
		return nil
	}
	if r.pwLine >= 0 && r.oldUID != strconv.Itoa(r.uid) {
		if other := pw.byID(r.uid, imageUser); other != "" {
			return fmt.Errorf("%s=%d is the uid of the user %q of the image (%s): choose a uid that no other user has, as the hermes user's files and processes would be that user's too", r.uidSource, r.uid, other, filepath.Join(etc, "passwd"))
		}
	}
	uid, gid := strconv.Itoa(r.uid), strconv.Itoa(r.gid)
	if r.pwLine >= 0 && (r.oldUID != uid || r.oldGID != gid) {
		if err := d.WriteFileAtomic("passwd", pw.set(r.pwLine, map[int]string{2: uid, 3: gid}), r.passwdMode, safefs.Keep); err != nil {
			b.remapNotDone(filepath.Join(etc, "passwd"), err, r)
			return nil
		}
	}
	if r.grLine >= 0 && r.oldGroupGID != gid {
		if err := d.WriteFileAtomic("group", r.group.set(r.grLine, map[int]string{2: gid}), r.grpMode, safefs.Keep); err != nil {
			b.remapNotDone(filepath.Join(etc, "group"), err, r)
			return nil
		}
	}
	fmt.Fprintf(b.stderr, "hermes init: the hermes user is now %d:%d in %s (was %s:%s): docker exec -u hermes runs as %d:%d\n",
		r.uid, r.gid, etc+"/passwd, "+etc+"/group", r.oldUID, r.oldGID, r.uid, r.gid)
	return nil
}

// readAccounts reads name in d without following a link, and its mode.
func readAccounts(d *safefs.Dir, name string) (accounts, os.FileMode, error) {
	f, err := d.OpenFile(name, os.O_RDONLY|unix.O_NONBLOCK, 0, safefs.Keep)
	if err != nil {
		return accounts{}, 0, err
	}
	defer f.Close()
	if err := safefs.CheckOpen(f); err != nil {
		return accounts{}, 0, err
	}
	fi, err := f.Stat()
	if err != nil {
		return accounts{}, 0, err
	}
	data, err := io.ReadAll(io.LimitReader(f, maxAccountsFile+1))
	if err != nil {
		return accounts{}, 0, err
	}
	if len(data) > maxAccountsFile {
		return accounts{}, 0, fmt.Errorf("it is larger than %d bytes", maxAccountsFile)
	}
	return parseAccounts(data), fi.Mode().Perm(), nil
}

// remapNotDone is the one line of a rewrite that could not be done.
func (b *boot) remapNotDone(path string, err error, r remap) {
	why := oneLine(err.Error())
	switch {
	case errors.Is(err, unix.EBUSY):
		why = "it is bind-mounted (a mount point cannot be replaced, and the host's file is not init's to edit)"
	case errors.Is(err, unix.EROFS):
		why = "/etc is read-only"
	case errors.Is(err, safefs.ErrSymlink), errors.Is(err, unix.ELOOP):
		why = "it is a symbolic link, which init never writes through"
	}
	fmt.Fprintf(b.stderr, "hermes init: %s not rewritten for the remapped hermes user (%d:%d, %s): %s; docker exec -u hermes still gets the image's ids, use docker exec -u %d:%d\n",
		path, r.uid, r.gid, r.uidSource, why, r.uid, r.gid)
}
