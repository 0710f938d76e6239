package sessions

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
)

func benchTurn(id string) Turn {
	return Turn{
		SessionID: id, Profile: "default", Model: "m",
		Messages: []Message{
			{Role: RoleUser, Content: strings.Repeat("q", 200)},
			{Role: RoleAssistant, Content: strings.Repeat("a", 1000)},
		},
		Usage: &Usage{PromptTokens: 50, CompletionTokens: 250, TotalTokens: 300},
	}
}

// BenchmarkAppendTurn: one conversation, one turn (two messages) after the
// other; reports turns/s.
func BenchmarkAppendTurn(b *testing.B) {
	s, _ := openStore(b, nil)
	ctx := context.Background()
	tr := benchTurn("bench")
	for b.Loop() {
		if err := s.AppendTurn(ctx, tr); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "turns/s")
}

// BenchmarkAppendTurnParallel: many conversations at once (GOMAXPROCS ×
// -cpu goroutines, each its own session); reports turns/s.
func BenchmarkAppendTurnParallel(b *testing.B) {
	s, _ := openStore(b, nil)
	ctx := context.Background()
	var next atomic.Int64
	b.SetParallelism(50)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		tr := benchTurn(fmt.Sprintf("bench-%d", next.Add(1)))
		for pb.Next() {
			if err := s.AppendTurn(ctx, tr); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "turns/s")
}
