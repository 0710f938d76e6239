package logpipe

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"testing"
)

// testPiece is a piece as the sinks see it.
type testPiece struct {
	Line string
	Cont bool
}

func (p testPiece) String() string {
	if len(p.Line) > 20 {
		return fmt.Sprintf("{%d bytes %q… cont=%v}", len(p.Line), p.Line[:8], p.Cont)
	}
	return fmt.Sprintf("{%q cont=%v}", p.Line, p.Cont)
}

// splitChunks runs a splitter over chunks (as consecutive reads) and EOF,
// with a small batch capacity to exercise batching, and checks the raw
// console copy of every batch against its pieces.
func splitChunks(t testing.TB, chunks [][]byte) []testPiece {
	var (
		sp  splitter
		out []testPiece
		buf = make([]piece, 0, 3)
	)
	emit := func(src []byte, pieces []piece) {
		var want []byte
		for _, p := range pieces {
			if p.n > maxLine {
				t.Fatalf("piece of %d bytes, want at most %d", p.n, maxLine)
			}
			line := src[p.off : p.off+p.n]
			if p.nl && src[p.off+p.n] != '\n' {
				t.Fatalf("piece %q marked nl is followed by %q", line, src[p.off+p.n])
			}
			out = append(out, testPiece{string(line), p.cont})
			want = append(append(want, line...), '\n')
		}
		if got := appendRaw(nil, src, pieces); !bytes.Equal(got, want) {
			t.Fatalf("appendRaw = %q, want %q", got, want)
		}
	}
	for _, c := range chunks {
		for len(c) > 0 {
			var src []byte
			var pieces []piece
			src, pieces, c = sp.next(c, buf[:0])
			emit(src, pieces)
		}
	}
	emit(sp.flush(buf[:0]))
	sp.idle()
	if sp.carry != nil {
		t.Fatalf("carry holds %d bytes after EOF and idle", cap(sp.carry))
	}
	return out
}

var (
	long1  = strings.Repeat("a", maxLine)
	long2  = strings.Repeat("b", maxLine+1)
	long3  = strings.Repeat("c", 3*maxLine+5)
	splitT = []struct {
		name   string
		chunks []string
		want   []testPiece
	}{
		{"empty", nil, nil},
		{"one line", []string{"hello\n"}, []testPiece{{"hello", false}}},
		{"empty lines", []string{"\n\n"}, []testPiece{{"", false}, {"", false}}},
		{"final partial", []string{"a\nb"}, []testPiece{{"a", false}, {"b", false}}},
		{"crlf is data", []string{"a\r\nb\rc\n"}, []testPiece{{"a\r", false}, {"b\rc", false}}},
		{"across reads", []string{"he", "l", "lo\nwor", "ld\n"}, []testPiece{{"hello", false}, {"world", false}}},
		{"newline alone", []string{"abc", "\n", "\n"}, []testPiece{{"abc", false}, {"", false}}},
		{"exactly max", []string{long1 + "\n"}, []testPiece{{long1, false}}},
		{"exactly max then newline read", []string{long1, "\n"}, []testPiece{{long1, false}}},
		{"exactly max at eof", []string{long1}, []testPiece{{long1, false}}},
		{"max plus one", []string{long2 + "\nz\n"}, []testPiece{{long2[:maxLine], false}, {"b", true}, {"z", false}}},
		{"max plus one split reads", []string{long2[:100], long2[100:], "\n"}, []testPiece{{long2[:maxLine], false}, {"b", true}}},
		{"three and a bit", []string{long3 + "\nx"}, []testPiece{{long3[:maxLine], false}, {long3[:maxLine], true}, {long3[:maxLine], true}, {"ccccc", true}, {"x", false}}},
		{"many lines, small batches", []string{"1\n2\n3\n4\n5\n6\n7\n"}, []testPiece{{"1", false}, {"2", false}, {"3", false}, {"4", false}, {"5", false}, {"6", false}, {"7", false}}},
	}
)

func TestSplit(t *testing.T) {
	for _, tt := range splitT {
		t.Run(tt.name, func(t *testing.T) {
			var chunks [][]byte
			for _, c := range tt.chunks {
				chunks = append(chunks, []byte(c))
			}
			got := splitChunks(t, chunks)
			if !slices.Equal(got, tt.want) {
				t.Errorf("split(%d chunks) = %v, want %v", len(chunks), got, tt.want)
			}
		})
	}
}

// FuzzSplit checks that any cutting of the input into reads gives the
// pieces of the whole input, that pieces are at most maxLine bytes, and
// that joining them gives the input back.
func FuzzSplit(f *testing.F) {
	for _, tt := range splitT {
		data := []byte(strings.Join(tt.chunks, ""))
		var cuts []byte
		for _, c := range tt.chunks {
			cuts = append(cuts, byte(len(c)))
		}
		// Large inputs slow the fuzzer down: a leading run becomes pad.
		pad := 0
		if len(data) > 0 {
			pad = (len(data) - len(bytes.TrimLeft(data, string(data[:1]))) - 1) / 8
		}
		f.Add(data[pad*8:], cuts, uint16(pad))
	}
	f.Add([]byte("a\nbb\n\nccc"), []byte{1, 2, 3}, uint16(3))
	f.Fuzz(func(t *testing.T, data, cuts []byte, pad uint16) {
		// pad stretches the input past maxLine without a huge corpus.
		if pad %= 20000; pad > 0 && len(data) > 0 {
			data = append(bytes.Repeat(data[:1], int(pad)*8), data...)
		}
		whole := splitChunks(t, [][]byte{data})
		var chunks [][]byte
		rest := data
		for i := 0; len(rest) > 0; i++ {
			n := len(rest)
			if len(cuts) > 0 {
				n = min(n, int(cuts[i%len(cuts)])*int(1+pad%300)+1)
			}
			chunks = append(chunks, rest[:n])
			rest = rest[n:]
		}
		got := splitChunks(t, chunks)
		if !slices.Equal(got, whole) {
			t.Fatalf("split of %d reads = %v, want %v", len(chunks), got, whole)
		}
		var joined strings.Builder
		for i, p := range got {
			if p.Cont && len(got[i-1].Line) != maxLine {
				t.Fatalf("piece %d is continued, but piece %d has %d bytes, want %d", i, i-1, len(got[i-1].Line), maxLine)
			}
			if i > 0 && !p.Cont {
				joined.WriteByte('\n')
			}
			joined.WriteString(p.Line)
		}
		if want := strings.TrimSuffix(string(data), "\n"); joined.String() != want {
			t.Fatalf("joined pieces = %q, want %q", joined.String(), want)
		}
	})
}
