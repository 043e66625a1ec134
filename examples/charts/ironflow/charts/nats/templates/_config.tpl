{{- /*
nats.conf, built like the official chart builds it: the settings are
assembled as a map (each block merged with its `merge` value), then printed
as indented JSON with sorted keys, which nats-server reads as its config
format. Two rules make JSON able to say what nats.conf needs:
  - a string "<< text >>" is printed as the bare text (`$SERVER_NAME`,
    `10Gi`), so variables and sizes with units keep their meaning;
  - a key ending in "$include" is printed as `include <value>;`.
*/ -}}

{{- /* Top-level settings, before config.merge. */ -}}
{{- define "nats.config.doc" -}}
{{- $c := .Values.config -}}
server_name: "<< $SERVER_NAME >>"
lame_duck_grace_period: 10s
lame_duck_duration: 30s
pid_file: /var/run/nats/nats.pid
port: {{ int $c.nats.port }}
{{- if $c.monitor.enabled }}
http_port: {{ int $c.monitor.port }}
{{- end }}
{{- if $c.profiling.enabled }}
prof_port: {{ int $c.profiling.port }}
{{- end }}
{{- with $c.cluster }}
{{- if .enabled }}
cluster:
  {{- include "nats.mergedDoc" (dict "tpl" "nats.config.cluster" "ctx" $ "merge" .merge "patch" .patch) | nindent 2 }}
{{- end }}
{{- end }}
{{- with $c.jetstream }}
{{- if .enabled }}
jetstream:
  {{- include "nats.mergedDoc" (dict "tpl" "nats.config.jetstream" "ctx" $ "merge" .merge "patch" .patch) | nindent 2 }}
{{- end }}
{{- end }}
{{- end }}

{{- /*
Cluster block: named after the StatefulSet, one route per ordinal
(<sts>-<i>.<headless>[.<ns>.svc.<domain>]:<port>), whether or not that
server runs yet, so every server knows the whole cluster.
*/ -}}
{{- define "nats.config.cluster" -}}
{{- $cl := .Values.config.cluster }}
{{- $sts := include "nats.statefulSetName" . }}
{{- $host := include "nats.headlessServiceName" . }}
{{- if $cl.routeURLs.useFQDN }}
{{- $host = printf "%s.%s.svc.%s" $host (include "nats.namespace" .) $cl.routeURLs.k8sClusterDomain }}
{{- end }}
{{- $auth := "" }}
{{- $withAuth := and $cl.routeURLs.user $cl.routeURLs.password }}
{{- if $withAuth }}
{{- $auth = printf "%s:%s@" (urlquery $cl.routeURLs.user) (urlquery $cl.routeURLs.password) }}
{{- end -}}
name: {{ $sts | quote }}
port: {{ int $cl.port }}
no_advertise: {{ $cl.noAdvertise }}
routes:
{{- range $i := until (int $cl.replicas) }}
  - {{ printf "nats://%s%s-%d.%s:%d" $auth $sts $i $host (int $cl.port) | quote }}
{{- end }}
{{- if $withAuth }}
authorization:
  user: {{ $cl.routeURLs.user | quote }}
  password: {{ $cl.routeURLs.password | quote }}
{{- end }}
{{- end }}

{{- /*
JetStream block: store_dir and max_file_store (maxSize, else the volume
size; 0 when the file store is off), max_memory_store (0 unless the memory
store is on).
*/ -}}
{{- define "nats.config.jetstream" -}}
{{- $js := .Values.config.jetstream }}
{{- if $js.memoryStore.enabled }}
{{- with $js.memoryStore.maxSize }}
max_memory_store: {{ printf "<< %v >>" . | quote }}
{{- end }}
{{- else }}
max_memory_store: 0
{{- end }}
{{- with $js.fileStore }}
{{- if .enabled }}
store_dir: {{ .dir | quote }}
{{- if .maxSize }}
max_file_store: {{ printf "<< %v >>" .maxSize | quote }}
{{- else if .pvc.enabled }}
max_file_store: {{ printf "<< %v >>" .pvc.size | quote }}
{{- end }}
{{- else }}
max_file_store: 0
{{- end }}
{{- end }}
{{- end }}

{{- /* The final config map: the settings with config.merge over them. */ -}}
{{- define "nats.config" -}}
{{- include "nats.mergedDoc" (dict "tpl" "nats.config.doc" "ctx" . "merge" .Values.config.merge "patch" .Values.config.patch) }}
{{- end }}

{{- /*
Prints a value as indented JSON (2 spaces per level, keys sorted, as Go's
json.MarshalIndent does) with the two nats.conf rules above.
Input: dict "value" <any> "indent" <int, the current indentation>.
*/ -}}
{{- define "nats.formatConf" -}}
{{- $v := .value }}
{{- $indent := int .indent }}
{{- $inner := repeat (add $indent 2 | int) " " }}
{{- if kindIs "map" $v }}
{{- if eq (len $v) 0 }}{}
{{- else }}
{{- $keys := keys $v | sortAlpha }}
{{- $last := sub (len $keys) 1 }}
{{- $out := "{" }}
{{- range $i, $k := $keys }}
{{- $item := get $v $k }}
{{- if hasSuffix "$include" $k }}
{{- $out = printf "%s\n%sinclude %v;" $out $inner $item }}
{{- else }}
{{- $text := include "nats.formatConf" (dict "value" $item "indent" (add $indent 2)) }}
{{- $out = printf "%s\n%s%s: %s%s" $out $inner (toRawJson $k) $text (ternary "," "" (lt $i $last)) }}
{{- end }}
{{- end }}
{{- printf "%s\n%s}" $out (repeat $indent " ") }}
{{- end }}
{{- else if kindIs "slice" $v }}
{{- if eq (len $v) 0 }}[]
{{- else }}
{{- $last := sub (len $v) 1 }}
{{- $out := "[" }}
{{- range $i, $item := $v }}
{{- $text := include "nats.formatConf" (dict "value" $item "indent" (add $indent 2)) }}
{{- $out = printf "%s\n%s%s%s" $out $inner $text (ternary "," "" (lt $i $last)) }}
{{- end }}
{{- printf "%s\n%s]" $out (repeat $indent " ") }}
{{- end }}
{{- else if and (kindIs "string" $v) (regexMatch "^<<\\s+.*\\s+>>$" $v) }}
{{- regexReplaceAll "^<<\\s+(.*?)\\s+>>$" $v "${1}" }}
{{- else }}
{{- toRawJson $v }}
{{- end }}
{{- end }}

{{- /*
Extra files the reloader watches besides nats.conf: every `$include` (relative
to /etc/nats-config) and every cert_file/key_file/ca_file in the config.
Input: dict "config" <map or value>. Output: YAML list items of -config args.
*/ -}}
{{- define "nats.reloaderConfigArgs" -}}
{{- if kindIs "map" .config }}
{{- range $k, $v := .config }}
{{- if has $k (list "cert_file" "key_file" "ca_file") }}
- -config
- {{ $v | quote }}
{{- else if hasSuffix "$include" $k }}
- -config
- {{ clean (printf "/etc/nats-config/%s" $v) | quote }}
{{- else }}
{{- include "nats.reloaderConfigArgs" (dict "config" $v) }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}
