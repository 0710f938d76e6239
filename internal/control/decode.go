package control

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"syscall"

	"github.com/hermes-agent/hermes/internal/hostenv"
	"github.com/hermes-agent/hermes/internal/supervise"
)

// MaxBodyBytes bounds a request body; a larger one is answered 413.
const MaxBodyBytes = 1 << 20

// DefaultTail is the number of log lines /logs returns without ?tail=.
const DefaultTail = 100

// maxTail bounds ?tail= (the rings hold far fewer lines).
const maxTail = 1_000_000

// decodeSpec decodes a spec body strictly (unknown keys and trailing data
// are errors) for the service called name: the body's name must be empty
// or equal to it, and the result carries it.
func decodeSpec(r io.Reader, name string) (supervise.Spec, error) {
	var spec supervise.Spec
	body, err := io.ReadAll(r)
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return spec, fmt.Errorf("%w: the spec is larger than %d bytes", ErrTooLarge, tooBig.Limit)
		}
		return spec, fmt.Errorf("%w: reading the spec: %v", ErrBadRequest, err)
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return spec, fmt.Errorf("%w: the request needs a spec as its JSON body", ErrBadRequest)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&spec); err != nil {
		return supervise.Spec{}, fmt.Errorf("%w: the spec is not valid JSON for a service: %v", ErrBadRequest, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return supervise.Spec{}, fmt.Errorf("%w: the spec is followed by more data", ErrBadRequest)
	}
	if spec.Name != "" && spec.Name != name {
		return supervise.Spec{}, fmt.Errorf("%w: the spec's name %q differs from the name in the path %q", ErrBadRequest, spec.Name, name)
	}
	spec.Name = name
	return spec, nil
}

// parseTail parses ?tail=: absent means DefaultTail.
func parseTail(q url.Values) (int, error) {
	if !q.Has("tail") {
		return DefaultTail, nil
	}
	v := q.Get("tail")
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 || n > maxTail {
		return 0, fmt.Errorf("%w: tail=%q: want a number of lines between 0 and %d", ErrBadRequest, v, maxTail)
	}
	return n, nil
}

// parseSig parses ?sig= (required): a name such as HUP or SIGHUP, or a
// number.
func parseSig(q url.Values) (syscall.Signal, error) {
	v := q.Get("sig")
	if v == "" {
		return 0, fmt.Errorf("%w: sig= is required (a signal such as HUP)", ErrBadRequest)
	}
	sig, err := supervise.ParseSignal(v)
	if err != nil {
		return 0, fmt.Errorf("%w: sig=%q: %v", ErrBadRequest, v, err)
	}
	return sig, nil
}

// parseBool parses a boolean query parameter with the one truthiness
// parser; absent means def, and a spelling outside 1/true/yes/0/false/no
// (the empty value included) is an error rather than a guess.
func parseBool(q url.Values, key string, def bool) (bool, error) {
	if !q.Has(key) {
		return def, nil
	}
	v := q.Get(key)
	b, known := hostenv.ParseBool(v)
	if !known || v == "" {
		return false, fmt.Errorf("%w: %s=%q: want 1, true, yes, 0, false or no", ErrBadRequest, key, v)
	}
	return b, nil
}
