package logpipe

import "bytes"

// piece is one line, or one piece of a split line, at src[off:off+n].
type piece struct {
	off, n int32
	cont   bool // continues the previous piece
	nl     bool // src[off+n] is its '\n' (so the raw copy can include it)
}

// splitter cuts a stream into pieces across read boundaries. Its zero
// value is ready; a Pump owns one.
type splitter struct {
	carry []byte // an unfinished line (at most maxLine bytes, no '\n')
	cont  bool   // the next piece continues the previous one
	used  bool   // the last next returned carry as a piece: clear it first
}

// next cuts the front of data into pieces appended to out (up to its
// capacity). It returns the bytes the pieces index (data, or the carried
// line completed by data), the pieces, and the rest of data to pass to the
// next call. The returned src is valid until the next call. Bytes of an
// unfinished line are kept until a later call completes them.
func (s *splitter) next(data []byte, out []piece) (src []byte, pieces []piece, rest []byte) {
	if s.used {
		s.carry, s.used = s.carry[:0], false
	}
	if len(s.carry) > 0 {
		room := maxLine - len(s.carry)
		i := bytes.IndexByte(data, '\n')
		switch {
		case i >= 0 && i <= room: // the carried line ends here
			s.carry = append(s.carry, data[:i]...)
			data = data[i+1:]
		case len(data) <= room: // it goes on in a later read
			s.carry = append(s.carry, data...)
			return nil, out, nil
		default: // it is longer than maxLine: emit a full piece
			s.carry = append(s.carry, data[:room]...)
			data = data[room:]
		}
		out = append(out, piece{n: int32(len(s.carry)), cont: s.cont})
		s.cont = i < 0 || i > room
		s.used = true
		return s.carry, out, data
	}
	off := 0
	for off < len(data) && len(out) < cap(out) {
		rest := data[off:]
		i := bytes.IndexByte(rest, '\n')
		switch {
		case i >= 0 && i <= maxLine:
			out = append(out, piece{off: int32(off), n: int32(i), cont: s.cont, nl: true})
			s.cont = false
			off += i + 1
		case len(rest) > maxLine:
			out = append(out, piece{off: int32(off), n: maxLine, cont: s.cont})
			s.cont = true
			off += maxLine
		default:
			s.carry = append(s.carry, rest...)
			off = len(data)
		}
	}
	return data, out, data[off:]
}

// flush returns the unfinished line as a last piece (at EOF), if any.
func (s *splitter) flush(out []piece) (src []byte, pieces []piece) {
	if s.used {
		s.carry, s.used = s.carry[:0], false
	}
	if len(s.carry) == 0 {
		return nil, out
	}
	out = append(out, piece{n: int32(len(s.carry)), cont: s.cont})
	s.cont = false
	s.used = true
	return s.carry, out
}

// idle trims the carry buffer to what it holds (before Pump waits), so
// that an idle stream keeps no more than its unfinished line.
func (s *splitter) idle() {
	switch {
	case s.used || len(s.carry) == 0:
		s.carry, s.used = nil, false
	case cap(s.carry) > 2*len(s.carry)+64:
		s.carry = bytes.Clone(s.carry)
	}
}
