package logpipe

import (
	"bytes"
	"time"
)

// ParseRecord splits one record of a log file (without its "\n") into its
// time, whether it continues the previous line (separator '+'), and the
// line. ok is false for a record that does not start with a timestamp in
// the file's layout and a separator.
func ParseRecord(rec []byte) (t time.Time, continued bool, line []byte, ok bool) {
	if len(rec) <= len(tsLayout) {
		return time.Time{}, false, nil, false
	}
	t, err := time.Parse(tsLayout, string(rec[:len(tsLayout)]))
	if err != nil {
		return time.Time{}, false, nil, false
	}
	switch rec[len(tsLayout)] {
	case ' ':
	case '+':
		continued = true
	default:
		return time.Time{}, false, nil, false
	}
	return t, continued, bytes.Clone(rec[len(tsLayout)+1:]), true
}
