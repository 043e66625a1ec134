{{- /*
Helpers of the nats test fixture. Names and labels follow the official
nats-io/k8s chart; the implementation is this project's own.

The name helpers (nats.fullname, nats.statefulSetName, nats.clientURL, ...)
need only .Values, .Release and .Chart.Name, so a parent chart can call them
with the subchart's context: {{ include "nats.clientURL" .Subcharts.nats }}.
*/ -}}

{{- /* Chart name, or nameOverride. Feeds app.kubernetes.io/name. */ -}}
{{- define "nats.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- /*
Fullname: fullnameOverride; else the release name when it already contains
the name ("helm install nats", "my-nats"); else "<release>-<name>".
*/ -}}
{{- define "nats.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := include "nats.name" . }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "nats.namespace" -}}
{{- default .Release.Namespace .Values.namespaceOverride }}
{{- end }}

{{- /* Object names; each has a `name` value that overrides it. */ -}}
{{- define "nats.statefulSetName" -}}
{{- .Values.statefulSet.name | default (include "nats.fullname" .) }}
{{- end }}

{{- define "nats.serviceName" -}}
{{- .Values.service.name | default (include "nats.fullname" .) }}
{{- end }}

{{- define "nats.headlessServiceName" -}}
{{- .Values.headlessService.name | default (printf "%s-headless" (include "nats.fullname" .)) }}
{{- end }}

{{- define "nats.configMapName" -}}
{{- .Values.configMap.name | default (printf "%s-config" (include "nats.fullname" .)) }}
{{- end }}

{{- define "nats.pdbName" -}}
{{- .Values.podDisruptionBudget.name | default (include "nats.fullname" .) }}
{{- end }}

{{- define "nats.jetstreamPVCName" -}}
{{- .Values.config.jetstream.fileStore.pvc.name | default (printf "%s-js" (include "nats.fullname" .)) }}
{{- end }}

{{- define "nats.boxDeploymentName" -}}
{{- .Values.natsBox.deployment.name | default (printf "%s-box" (include "nats.fullname" .)) }}
{{- end }}

{{- define "nats.boxContextsSecretName" -}}
{{- .Values.natsBox.contextsSecret.name | default (printf "%s-box-contexts" (include "nats.fullname" .)) }}
{{- end }}

{{- /*
URL clients use: the client Service (the headless one when the Service is
disabled), qualified with the namespace when namespaceOverride moves the
objects out of the release namespace.
*/ -}}
{{- define "nats.clientURL" -}}
{{- $host := include "nats.headlessServiceName" . }}
{{- if .Values.service.enabled }}
{{- $host = include "nats.serviceName" . }}
{{- end }}
{{- if and .Values.namespaceOverride (ne .Values.namespaceOverride .Release.Namespace) }}
{{- $host = printf "%s.%s" $host .Values.namespaceOverride }}
{{- end }}
{{- printf "nats://%s:%d" $host (int .Values.config.nats.port) }}
{{- end }}

{{- /* Servers: config.cluster.replicas when clustering, else 1. */ -}}
{{- define "nats.replicas" -}}
{{- if .Values.config.cluster.enabled }}
{{- int .Values.config.cluster.replicas }}
{{- else }}
{{- 1 }}
{{- end }}
{{- end }}

{{- define "nats.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "nats.selectorLabels" -}}
app.kubernetes.io/name: {{ include "nats.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: nats
{{- end }}

{{- define "nats.labels" -}}
{{- with .Values.global.labels }}{{ toYaml . }}{{ "\n" }}{{ end -}}
helm.sh/chart: {{ include "nats.chart" . }}
{{ include "nats.selectorLabels" . }}
{{- with .Chart.AppVersion }}
app.kubernetes.io/version: {{ . | quote }}
{{- end }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "natsBox.selectorLabels" -}}
app.kubernetes.io/name: {{ include "nats.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: nats-box
{{- end }}

{{- define "natsBox.labels" -}}
{{- with .Values.global.labels }}{{ toYaml . }}{{ "\n" }}{{ end -}}
helm.sh/chart: {{ include "nats.chart" . }}
{{ include "natsBox.selectorLabels" . }}
{{- with .Chart.AppVersion }}
app.kubernetes.io/version: {{ . | quote }}
{{- end }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- /*
image and imagePullPolicy lines of a container.
Input: dict "image" <image values> "global" <.Values.global>.
fullImageName wins; else [registry/]repository(:tag|@digest); registry and
pullPolicy fall back to global.image.
*/ -}}
{{- define "nats.image" -}}
{{- $img := .image }}
{{- $global := (.global | default dict).image | default dict }}
{{- $ref := $img.fullImageName }}
{{- if not $ref }}
{{- if $img.digest }}
{{- $ref = printf "%s@%s" $img.repository $img.digest }}
{{- else }}
{{- $ref = printf "%s:%s" $img.repository (toString $img.tag) }}
{{- end }}
{{- with $img.registry | default $global.registry }}
{{- $ref = printf "%s/%s" . $ref }}
{{- end }}
{{- end }}
image: {{ $ref | quote }}
{{- with $img.pullPolicy | default $global.pullPolicy }}
imagePullPolicy: {{ . }}
{{- end }}
{{- end }}

{{- /*
Env map -> list of EnvVar: name -> string becomes {name, value}, name -> map
becomes the map plus name (valueFrom...). Keys come out sorted.
*/ -}}
{{- define "nats.env" -}}
{{- range $name, $v := . }}
{{- if kindIs "string" $v }}
- name: {{ $name | quote }}
  value: {{ $v | quote }}
{{- else if kindIs "map" $v }}
- {{ merge (dict "name" $name) $v | toYaml | nindent 2 }}
{{- else }}
{{- fail (printf "nats chart: env var %s must be a string or a map, not %s" $name (kindOf $v)) }}
{{- end }}
{{- end }}
{{- end }}

{{- /*
Renders the named template `tpl` with context `ctx`, parses it, merges
`merge` over it (maps key by key, lists and scalars replace) and prints the
result as YAML. `patch` (the official chart's JSON patches) is refused.
Input: dict "tpl" <template name> "ctx" <context> "merge" <map> "patch" <list>.
*/ -}}
{{- define "nats.mergedDoc" -}}
{{- if .patch }}
{{- fail (printf "nats chart (test fixture): `patch` is not implemented (rendering %s); use `merge`" .tpl) }}
{{- end }}
{{- $doc := include .tpl .ctx | fromYaml }}
{{- if hasKey $doc "Error" }}
{{- fail (printf "nats chart: %s rendered invalid YAML: %s" .tpl (get $doc "Error")) }}
{{- end }}
{{- toYaml (mergeOverwrite $doc (deepCopy (.merge | default dict))) }}
{{- end }}

{{- /* Fails on official features this fixture does not implement. */ -}}
{{- define "nats.unsupported" -}}
{{- $v := .Values }}
{{- $off := list }}
{{- range $p := list "leafnodes" "websocket" "mqtt" "gateway" "resolver" }}
{{- if (get $v.config $p | default dict).enabled }}
{{- $off = append $off (printf "config.%s" $p) }}
{{- end }}
{{- end }}
{{- range $p := list "nats" "cluster" "monitor" }}
{{- if ((get $v.config $p | default dict).tls | default dict).enabled }}
{{- $off = append $off (printf "config.%s.tls" $p) }}
{{- end }}
{{- end }}
{{- range $p := list "tlsCA" "promExporter" "serviceAccount" }}
{{- if (get $v $p | default dict).enabled }}
{{- $off = append $off $p }}
{{- end }}
{{- end }}
{{- if ($v.natsBox.serviceAccount | default dict).enabled }}
{{- $off = append $off "natsBox.serviceAccount" }}
{{- end }}
{{- range $name, $c := $v.natsBox.contexts }}
{{- range $k := list "creds" "nkey" "tls" }}
{{- $s := get ($c | default dict) $k | default dict }}
{{- if or $s.contents $s.secretName }}
{{- $off = append $off (printf "natsBox.contexts.%s.%s" $name $k) }}
{{- end }}
{{- end }}
{{- end }}
{{- if $v.extraResources }}
{{- $off = append $off "extraResources" }}
{{- end }}
{{- with $off }}
{{- fail (printf "nats chart (test fixture): not implemented: %s" (join ", " .)) }}
{{- end }}
{{- end }}

{{- /*
Ports the server listens on, in the official chart's order: nats always,
cluster / monitor / profiling when enabled in config. JSON list of
{name, port, appProtocol}; names are the container port names.
*/ -}}
{{- define "nats.enabledPorts" -}}
{{- $c := .Values.config }}
{{- $ports := list (dict "name" "nats" "port" (int $c.nats.port) "appProtocol" "tcp") }}
{{- if $c.cluster.enabled }}
{{- $ports = append $ports (dict "name" "cluster" "port" (int $c.cluster.port) "appProtocol" "tcp") }}
{{- end }}
{{- if $c.monitor.enabled }}
{{- $ports = append $ports (dict "name" "monitor" "port" (int $c.monitor.port) "appProtocol" "http") }}
{{- end }}
{{- if $c.profiling.enabled }}
{{- $ports = append $ports (dict "name" "profiling" "port" (int $c.profiling.port) "appProtocol" "tcp") }}
{{- end }}
{{- toJson $ports }}
{{- end }}
