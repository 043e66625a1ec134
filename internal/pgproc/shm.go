package pgproc

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// waitShmDetached waits, up to ctx, until no process is attached to the
// System V shared memory segment that the data folder's last postmaster
// recorded in postmaster.pid. After a postmaster is killed (Kill, or
// SIGKILL as a last resort), its backends exit on their own once they notice
// it is gone (they run in sessions of their own, so no process-group signal
// reaches them); until they have, a new postmaster refuses to start with
// "pre-existing shared memory block is still in use". Without a
// postmaster.pid, or once the segment is gone, there is nothing to wait for.
func waitShmDetached(ctx context.Context, dataDir string) error {
	id, ok := recordedShmID(dataDir)
	if !ok {
		return nil
	}
	for {
		var desc unix.SysvShmDesc
		_, err := unix.SysvShmCtl(id, unix.IPC_STAT, &desc)
		if err != nil || desc.Nattch == 0 {
			// EINVAL/EIDRM: the segment is gone. Any other error: let the
			// postmaster judge for itself.
			return nil
		}
		select {
		case <-ctx.Done():
			return errors.New("backends of the previous postmaster are still attached to its shared memory")
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// recordedShmID reads the shared memory id from postmaster.pid's line 7
// ("key id").
func recordedShmID(dataDir string) (int, bool) {
	b, err := os.ReadFile(filepath.Join(dataDir, "postmaster.pid"))
	if err != nil {
		return 0, false
	}
	lines := strings.Split(string(b), "\n")
	if len(lines) < 7 {
		return 0, false
	}
	f := strings.Fields(lines[6])
	if len(f) != 2 {
		return 0, false
	}
	id, err := strconv.Atoi(f[1])
	return id, err == nil && id >= 0
}
