// Package scaling is the shared model of the scaling SDK: the Plan that every
// operation produces, the Verification that proves its outcome, the typed
// errors, progress events and the connection to a cluster.
//
// Every operation in the sub-packages (scale, nats) has one shape:
//
//  1. Plan reads live state, evaluates guards and returns a *Plan: ordered
//     steps, guard results, a human diff, a no-op flag, and a fingerprint of
//     the live state it was made from. A Plan round-trips through JSON, so a
//     tool can show it, get approval, store it and apply it later.
//  2. Apply runs exactly that plan. It refuses with a *StalePlanError when the
//     live state no longer matches the fingerprint and with a
//     *GuardBlockedError when a guard blocks; in both cases nothing is
//     written. Applying a plan whose target state already holds issues no
//     mutating request.
//  3. Verify watches (never polls) until the outcome holds or a deadline
//     passes and returns a *Verification with a Phase and per-check detail.
//
// Library code never prints and never exits: progress is reported through a
// Progress callback, failures through errors usable with errors.Is and
// errors.As.
package scaling
