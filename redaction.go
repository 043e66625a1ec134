package scaling

import (
	"regexp"
)

// DefaultSensitiveKeys matches the keys whose values a plan never shows:
// any key naming a password, passphrase, secret, token, credential, API
// key or private key ("password", "adminPassword", "DB_PASSWORD",
// "existingSecret", "GITHUB_TOKEN", "apiKey", "accessKey", "tls.key"). It
// is matched against one key at a time: a values key, a ConfigMap key, an
// environment variable's name. Over-redacting a name (existingSecret holds
// a Secret's name, not its content) is the cheaper mistake.
var DefaultSensitiveKeys = regexp.MustCompile(`(?i:passw(or)?d|passphrase|secret|token|credential|api[-_]?key|private[-_]?key)|(^|[-_.])(?i:key)s?$|[a-z0-9]Keys?$`)

// Redaction says which values are secret, so that no plan, diff, step or
// progress event carries them. It is on by default and cannot be turned
// off: the zero value redacts the keys DefaultSensitiveKeys matches, and
// every Secret object's data is redacted whatever the keys.
//
// A redacted value is shown as "(sensitive sha256:<12 hex digits>)": the
// digest says whether the value changed between the deployed and the
// planned state, and lets Apply compare a stored plan with the one it
// derives, without the value. The digest is of the value salted with
// where it lives, truncated: enough to tell changed from unchanged, and
// not an encryption (a guessable password stays guessable).
//
// Apply works from a redacted plan: it derives the plan again from the
// live release, and writes the values it read there, never the plan's.
type Redaction struct {
	// Keys replaces DefaultSensitiveKeys as the pattern of secret keys.
	Keys *regexp.Regexp
	// Paths are dotted value paths the caller marks secret
	// ("postgresql.auth.postgresPassword", "config.signingSeed"); each
	// marks its whole subtree, whatever Keys says.
	Paths []string
}
