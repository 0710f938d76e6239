package dashboard

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/hermes-agent/hermes/internal/gateway"
	"github.com/hermes-agent/hermes/internal/logpipe"
	"github.com/hermes-agent/hermes/internal/profiles"
	"github.com/hermes-agent/hermes/internal/supervise"
)

// bootLogPath is the boot reconciler's log, logs/container-boot.log (the
// layout's name).
func (s *Server) bootLogPath() string { return filepath.Join(s.home, profiles.FileBootLog) }

// apiLogDownload is GET /api/logs/{service}/download: the service's whole
// log file, its archives oldest first then current, as one text file to
// save (Content-Disposition: attachment). The files are read as the
// profiles' own reads do (as root, no symlink below home is followed). A
// service without a log file yet is 404.
func (s *Server) apiLogDownload(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("service")
	if err := supervise.ValidName(name); err != nil {
		writeError(w, http.StatusBadRequest, "bad_request", err.Error())
		return
	}
	files, err := logpipe.Files(gateway.LogFile(s.home, name))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		writeError(w, http.StatusInternalServerError, "log_unreadable", err.Error())
		return
	}
	if len(files) == 0 {
		writeError(w, http.StatusNotFound, "not_found", "service "+name+" has no log file yet")
		return
	}
	s.sendFiles(w, name+".log", files)
}

// apiBootLog is GET /api/logs/boot: logs/container-boot.log, one line per
// profile per boot, as text; ?download=1 makes it a file to save. No boot
// log yet is 404.
func (s *Server) apiBootLog(w http.ResponseWriter, r *http.Request) {
	path := s.bootLogPath()
	files := []string{}
	if _, err := os.Lstat(path + ".1"); err == nil {
		files = append(files, path+".1") // the rotated part, older
	}
	if _, err := os.Lstat(path); err == nil {
		files = append(files, path)
	}
	if len(files) == 0 {
		writeError(w, http.StatusNotFound, "not_found", "there is no boot log yet ("+profiles.FileBootLog+")")
		return
	}
	name := ""
	if r.URL.Query().Get("download") != "" {
		name = filepath.Base(path)
	}
	s.sendFiles(w, name, files)
}

// sendFiles answers the files one after the other as text/plain; a
// non-empty name makes it an attachment of that name.
func (s *Server) sendFiles(w http.ResponseWriter, name string, files []string) {
	var opened []*os.File
	defer func() {
		for _, f := range opened {
			f.Close()
		}
	}()
	for _, p := range files {
		f, err := profiles.OpenFile(s.home, p, os.O_RDONLY, 0)
		if err != nil {
			writeError(w, http.StatusInternalServerError, "log_unreadable", err.Error())
			return
		}
		opened = append(opened, f)
	}
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	if name != "" {
		h.Set("Content-Disposition", fmt.Sprintf("attachment; filename=%q", time.Now().UTC().Format("20060102T150405Z")+"-"+name))
	}
	w.WriteHeader(http.StatusOK)
	for _, f := range opened {
		if _, err := io.Copy(w, f); err != nil {
			return
		}
	}
}
