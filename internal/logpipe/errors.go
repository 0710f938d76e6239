package logpipe

import "errors"

// ErrConfig is wrapped by Reconfigure (and by the file sink's writes) when
// a FileConfig is unusable.
var ErrConfig = errors.New("invalid log configuration")

// ErrUnsafeFile is wrapped when the log file exists but is not a regular
// file with a single link (root must not append to a planted FIFO, device
// or hard link).
var ErrUnsafeFile = errors.New("log file is not a regular file with one link")

// ErrStalled is wrapped when a sink made no progress within its deadline:
// by Log.Close when the file writer is stuck, by Console.Run when the
// final flush did not finish.
var ErrStalled = errors.New("sink stalled")
