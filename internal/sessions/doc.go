// Package sessions is the store of a profile's conversations: its state.db
// (CONTRACT §2), an SQLite database in WAL mode written by the profile's
// gateway and read by the dashboard and `hermes sessions list|show`.
//
// # Model
//
// A Session is one conversation with the profile's agent, named by the
// X-Hermes-Session-Id header (NewSessionID makes one when the client sends
// none; ValidSessionID decides what a client may choose). It holds Messages,
// numbered 1, 2, ... in the order they were appended, and the token usage
// summed over its turns. A Turn (the user's message(s) and the assistant's
// reply) is appended in one transaction, so the message count of a session
// is always exact. The Responses API state lives in the same file: every
// Response (resp_…) names the session that holds its messages and the
// response it continues (previous_response_id), and a named conversation
// maps to a session; all of it survives a gateway restart.
//
// A session belongs to the profile whose gateway recorded it, and so do
// its responses and a conversation that maps to it. Every lookup of the
// Responses API state by id (GetResponse, DeleteResponse, ResponseChain,
// ResponseInput, FindConversation, ConversationSession, CheckSession)
// takes that profile and sees nothing of another's: a store may hold
// another profile's rows (hermes profile create --clone-all copies
// state.db), and to a gateway they read as unknown ids.
//
// # Schema and versioning
//
// Schema version 1 has four STRICT tables:
//
//	sessions      id PK, profile, model, title, started_at, last_activity_at,
//	              ended_at (NULL while open), message_count, prompt_tokens,
//	              completion_tokens, total_tokens
//	messages      (session_id → sessions ON DELETE CASCADE, seq) PK, role,
//	              content, raw (JSON of non-text content), created_at, model,
//	              prompt_tokens, completion_tokens, total_tokens (NULL: not
//	              reported), response_id
//	responses     id PK, session_id, previous_response_id, conversation,
//	              created_at, status, output_text, model, usage, deleted
//	conversations name PK, session_id, created_at
//
// Schema version 2 adds, and changes no row: messages_text, an FTS5 index
// of trigrams over the messages' text (kept by triggers; Search), and an
// index of the ended sessions (the size cap prunes the oldest first).
// Schema version 3 takes the index off a turn's path: a turn lists its
// messages in messages_unindexed, Index (Run, Close) moves them into
// messages_text in batches, and Search reads both; it also drops
// sessions_by_activity, which sessions_by_recency covers. Turns that
// arrive while one is written share its commit (AppendTurn's group).
// QueueTurn puts a turn in the same queue without waiting for its commit
// (the gateway's chat completions, whose answer is already delivered); one
// that finds the queue idle waits a millisecond (commitDelay) for others
// to share its commit, unless a turn someone waits for, a Flush or a Close
// comes; Flush waits for what was queued, and Close writes it before
// closing.
//
// # Lifecycle
//
// One API serves the CLI, the gateway and the dashboard: ListPage (paged,
// newest activity first, a search when it has a query), Show, Search
// (titles and message text, matched literally and case-insensitively),
// Rename, Export (JSON, Markdown), Delete, Prune (by age and count, with a
// dry run; a session in use is skipped and reported) and EndSession. The
// JSON of every reader is Page, Item and Detail. A session ends explicitly
// (EndSession) or when idle past Options.IdleTimeout (Run, EndIdle); an
// ended session is kept, marked ended, and a new turn reopens it. At
// Options.MaxBytes of data the oldest ended sessions are pruned (Admit,
// before every turn), and when that is not enough the turn is refused
// with ErrFull; both are counted (Stats) and logged.
//
// Times are INTEGER Unix milliseconds (UTC). The file is marked as ours by
// PRAGMA application_id (ApplicationID, "HRMS") and versioned by PRAGMA
// user_version, both in the database header: they can be read without
// knowing any of our tables, and they change in the same transaction as the
// migration that sets them, so a crash can never leave a half-migrated
// file. Open applies the missing migrations in order, in one IMMEDIATE
// transaction; each migration only adds.
//
// # Foreign and newer files
//
// A database that holds tables we did not create and lacks our
// application_id (for example a state.db left on a volume by the reference
// system, which used its own tables), or carries another application's
// id, or is not an SQLite file at all, is foreign: Open and OpenReadOnly
// refuse it with an error wrapping ErrForeignSchema that names the file and
// the fix (move it aside, e.g. `mv state.db state.db.reference`, with its
// -wal and -shm files). It is inspected through a read-only connection and
// never altered: no journal-mode change, no migration, no checkpoint (SQLite
// may leave an empty -wal and a -shm beside a WAL-mode file it has read).
// A file with our marker and a version newer than SchemaVersion is refused
// with ErrNewerSchema: a store is never downgraded.
//
// # Concurrency
//
// The writer (Open, the gateway) writes through one connection, every
// transaction BEGIN IMMEDIATE with a busy timeout: SQLite serialises
// writers anyway, and one connection turns that into a queue inside the
// process instead of "database is locked" errors, whatever the number of
// concurrent turns. Reads go through a separate pool of read-only
// connections; in WAL mode they never block the writer nor wait for it.
// Readers in other processes (OpenReadOnly: the dashboard, the CLI) open
// the file with mode=ro, never migrate, and see every committed turn while
// the gateway writes. A missing file reads as an empty store, and a
// read-only Store opens it on first use once the gateway has created it.
//
// # Durability
//
// WAL with synchronous=NORMAL: a commit is in the WAL (in the kernel's page
// cache) when AppendTurn returns, but the WAL is fsynced only at
// checkpoints. A process crash or SIGKILL loses nothing committed; a power
// loss or kernel crash may lose the last transactions before the latest
// checkpoint, and never corrupts the database. For a conversation log this
// trade buys an fsync-free commit per turn. AppendTurn returns once its
// turn is committed (the Responses API answers after it); a turn of
// QueueTurn is committed about commitDelay after it was queued, and a
// SIGKILL in between loses it: the caller has not waited for it (the
// gateway queues a chat completion's turn after its answer, which a kill
// before the commit always could lose).
package sessions
