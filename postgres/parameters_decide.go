package postgres

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/ironflow/scaling"
)

// FixedParameters are the parameters CloudNativePG manages itself: "fixed"
// ones it sets (archive_command, port, primary_conninfo,
// shared_preload_libraries, ssl, synchronous_standby_names, ...) and
// "blocked" ones that must keep PostgreSQL's default for it to work
// (data_directory, hba_file, listen_addresses, unix_socket_directories,
// logging_collector, ...): its FixedConfigurationParameters (v1.30), which
// its webhook refuses in spec.postgresql.parameters.
var FixedParameters = map[string]string{
	"allow_system_table_mods": "blocked", "archive_mode": "fixed", "bonjour": "blocked", "bonjour_name": "blocked",
	"cluster_name": "fixed", "config_file": "blocked", "data_directory": "blocked", "data_sync_retry": "blocked",
	"event_source": "blocked", "external_pid_file": "blocked", "hba_file": "blocked", "hot_standby": "blocked",
	"ident_file": "blocked", "jit_provider": "blocked", "listen_addresses": "blocked", "logging_collector": "blocked",
	"port": "fixed", "primary_conninfo": "fixed", "primary_slot_name": "fixed", "recovery_target": "fixed",
	"recovery_target_action": "fixed", "recovery_target_inclusive": "fixed", "recovery_target_lsn": "fixed",
	"recovery_target_name": "fixed", "recovery_target_time": "fixed", "recovery_target_timeline": "fixed",
	"recovery_target_xid": "fixed", "restore_command": "fixed", "shared_preload_libraries": "fixed",
	"temp_tablespaces": "fixed", "unix_socket_directories": "blocked", "unix_socket_group": "blocked",
	"unix_socket_permissions": "blocked", "archive_cleanup_command": "blocked", "archive_command": "fixed",
	"log_destination": "blocked", "log_directory": "blocked", "log_file_mode": "blocked", "log_filename": "blocked",
	"log_rotation_age": "blocked", "log_rotation_size": "blocked", "log_truncate_on_rotation": "blocked",
	"pg_failover_slots.primary_dsn": "fixed", "pg_failover_slots.standby_slot_names": "fixed",
	"promote_trigger_file": "blocked", "recovery_end_command": "blocked", "recovery_min_apply_delay": "blocked",
	"restart_after_crash": "blocked", "ssl": "fixed", "ssl_ca_file": "fixed", "ssl_cert_file": "fixed",
	"ssl_crl_file": "fixed", "ssl_dh_params_file": "fixed", "ssl_ecdh_curve": "fixed", "ssl_key_file": "fixed",
	"ssl_passphrase_command": "fixed", "ssl_passphrase_command_supports_reload": "fixed", "ssl_prefer_server_ciphers": "fixed",
	"stats_temp_directory": "blocked", "synchronous_standby_names": "fixed", "synchronized_standby_slots": "fixed",
	"syslog_facility": "blocked", "syslog_ident": "blocked", "syslog_sequence_numbers": "blocked", "syslog_split_messages": "blocked",
}

// parametersDecision is what decideParameters concludes.
type parametersDecision struct {
	guards []scaling.GuardResult
	// restart and reload name the changed parameters each way applies.
	restart, reload []string
}

// decideParameters checks each parameter against CloudNativePG's fixed
// list and what the primary's pg_settings allows, and says how each change
// applies. instances is the Cluster's count (wal_level minimal needs one).
// It reads nothing.
func decideParameters(cluster string, want map[string]string, live map[string]Setting, instances int) parametersDecision {
	var d parametersDecision
	cause := &ParameterError{Cluster: cluster}
	issue := func(name, value, why string) {
		cause.Problems = append(cause.Problems, ParameterIssue{Name: name, Value: value, Reason: why})
	}
	for _, name := range slices.Sorted(maps.Keys(want)) {
		value := want[name]
		if kind, fixed := FixedParameters[name]; fixed {
			issue(name, value, fmt.Sprintf("is %s by CloudNativePG (the operator manages it; its webhook refuses it)", kind))
			continue
		}
		s, known := live[name]
		if !known {
			if !strings.Contains(name, ".") {
				issue(name, value, "is not a parameter the server knows (pg_settings has no such name)")
			}
			continue // a custom (extension.name) parameter: nothing to check it against
		}
		if why := checkValue(s, value); why != "" {
			issue(name, value, why)
			continue
		}
		if name == "wal_level" && strings.EqualFold(value, "minimal") && instances > 1 {
			issue(name, value, fmt.Sprintf("minimal cannot feed replicas: %d instances need replica or logical", instances))
			continue
		}
		if sameSetting(s, value) && !s.PendingRestart {
			continue
		}
		if s.Restart() {
			d.restart = append(d.restart, name)
		} else {
			d.reload = append(d.reload, name)
		}
	}
	if len(cause.Problems) > 0 {
		d.guards = append(d.guards, block(GuardParameters, cause, "leave the operator's parameters to it, and give values within pg_settings' min_val/max_val or enumvals"))
	} else {
		d.guards = append(d.guards, pass(GuardParameters, fmt.Sprintf("%d parameters within what pg_settings allows and not fixed by CloudNativePG", len(want))))
	}
	if len(d.restart) > 0 {
		d.guards = append(d.guards, warn(GuardRestart, fmt.Sprintf("%s need a restart (pg_settings context postmaster): the operator restarts the replicas, then the primary (a switchover or an in-place restart, per primaryUpdateMethod)", joinNames(d.restart)),
			"apply in a maintenance window; the app sees the primary's restart as a short outage"))
	}
	return d
}

// checkValue returns why value is not one the setting accepts, "" when it
// is.
func checkValue(s Setting, value string) string {
	switch s.Context {
	case "internal":
		return "is internal (compiled in or fixed at initdb): it cannot be set"
	}
	switch s.VarType {
	case "bool":
		if _, ok := pgBool(value); !ok {
			return "is not a boolean (on/off)"
		}
	case "integer", "real":
		n, err := inUnit(value, s.Unit)
		if err != nil {
			return err.Error()
		}
		if s.VarType == "integer" && n != float64(int64(n)) {
			return fmt.Sprintf("is %g %s, not a whole number of the parameter's unit", n, orDash(s.Unit))
		}
		if lo, err := strconv.ParseFloat(s.Min, 64); err == nil && n < lo {
			return fmt.Sprintf("is below the minimum %s %s", s.Min, orDash(s.Unit))
		}
		if hi, err := strconv.ParseFloat(s.Max, 64); err == nil && n > hi {
			return fmt.Sprintf("is above the maximum %s %s", s.Max, orDash(s.Unit))
		}
	case "enum":
		if !slices.ContainsFunc(s.EnumVals, func(e string) bool { return strings.EqualFold(e, value) }) {
			return "is not one of " + strings.Join(s.EnumVals, ", ")
		}
	}
	return ""
}

func orDash(unit string) string {
	if unit == "" {
		return "(no unit)"
	}
	return unit
}
