package nodes

import "github.com/ironflow/scaling/internal/opkit"

func init() {
	guardKinds[GuardWorkerCount] = func() error { return &RemovingWorkersError{} }
	guardKinds[GuardReplacement] = func() error { return &ReplacementError{} }
	guardKinds[GuardBackups] = func() error { return &BackupsUnconfirmedError{} }
}

func (c *Client) registerTerraform(ops *opkit.Ops) {
	opkit.Register(ops, OpAddWorker, opkit.Op[addSpec]{Derive: c.deriveAddWorker, Apply: c.applyAddWorker, Verify: c.verifyAddWorker})
	opkit.Register(ops, OpDestroy, opkit.Op[destroySpec]{Derive: c.deriveDestroy, Apply: c.applyDestroy, Verify: c.verifyDestroy})
}
