{{/*
Chart name. Kept constant ("ironflow") on purpose: it feeds the
app.kubernetes.io/name selector label, which must never change between
upgrades (Deployment selectors are immutable).
*/}}
{{- define "ironflow.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Fully qualified app name, used for the Deployment, Services, HPA, PDB and the
release quota (<fullname>-quota). The postgresql subchart applies the same
rule to name the CNPG Cluster <fullname>-pg (its appName value).

Rule (deliberately simple, no nameOverride/fullnameOverride):
  - if the release name already contains the chart name, use the release name
    ("helm install ironflow" -> "ironflow", not "ironflow-ironflow");
  - otherwise "<release>-ironflow" ("helm install prod" -> "prod-ironflow").
Truncated to 63 characters because names end up in DNS labels.
*/}}
{{- define "ironflow.fullname" -}}
{{- if contains .Chart.Name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{/*
Chart label value: <name>-<version>.
*/}}
{{- define "ironflow.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Selector labels for the app. Immutable once installed.
*/}}
{{- define "ironflow.selectorLabels" -}}
app.kubernetes.io/name: {{ include "ironflow.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
Common labels for every object of the app.
*/}}
{{- define "ironflow.labels" -}}
helm.sh/chart: {{ include "ironflow.chart" . }}
{{ include "ironflow.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: ironflow
{{- end }}

{{/*
App image: repository:tag, tag defaulting to the chart's appVersion.
*/}}
{{- define "ironflow.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion | toString) }}
{{- end }}

{{/* ---------------------------------------------------------------------
Subcharts. NATS (charts/nats, the official nats-io/k8s chart's layout) and
PostgreSQL (charts/postgresql, CloudNativePG) are dependencies with the
conditions nats.enabled / postgresql.enabled. The app reaches them through
names the subcharts compute themselves: their helpers are called with the
subchart's own context (.Subcharts.<name>: its coalesced values, release and
chart), so the names can never drift from the objects.

Helm removes a disabled dependency from the chart it renders (and stores in
the release). These helpers fail with a clear message when a part is enabled
but its subchart is missing, instead of rendering a URL to nothing.
--------------------------------------------------------------------- */}}
{{- define "ironflow.subchart" -}}
{{- $sub := get (.ctx.Subcharts | default dict) .name }}
{{- if not $sub }}
{{- fail (printf "%s.enabled is true but the chart has no %s subchart: Helm drops a disabled dependency from the chart of a release, so render or upgrade from the chart folder (examples/charts/ironflow) instead of a release's stored chart" .name .name) }}
{{- end }}
{{- end }}

{{/* NATS client URL, e.g. nats://<release>-nats:4222. */}}
{{- define "ironflow.natsURL" -}}
{{- include "ironflow.subchart" (dict "ctx" . "name" "nats") }}
{{- include "nats.clientURL" .Subcharts.nats }}
{{- end }}

{{/* NATS servers: nats.config.cluster.replicas when clustering, else 1. */}}
{{- define "ironflow.natsReplicas" -}}
{{- include "ironflow.subchart" (dict "ctx" . "name" "nats") }}
{{- include "nats.replicas" .Subcharts.nats }}
{{- end }}

{{/* CNPG Cluster name, <fullname>-pg. */}}
{{- define "ironflow.pgClusterName" -}}
{{- include "ironflow.subchart" (dict "ctx" . "name" "postgresql") }}
{{- include "postgresql.clusterName" .Subcharts.postgresql }}
{{- end }}

{{/* Database host: the rw Pooler when enabled, else <fullname>-pg-rw. */}}
{{- define "ironflow.pgHost" -}}
{{- include "ironflow.subchart" (dict "ctx" . "name" "postgresql") }}
{{- include "postgresql.host" .Subcharts.postgresql }}
{{- end }}

{{/* Secret CNPG creates for the database owner: <fullname>-pg-app. */}}
{{- define "ironflow.pgAppSecret" -}}
{{- include "ironflow.subchart" (dict "ctx" . "name" "postgresql") }}
{{- include "postgresql.appSecretName" .Subcharts.postgresql }}
{{- end }}

{{/*
The Secret holding the app's credentials: auth.existingSecret, or the one
this chart renders when a credential is set; empty when there is none.
*/}}
{{- define "ironflow.authSecret" -}}
{{- if .Values.auth.existingSecret -}}
{{- .Values.auth.existingSecret -}}
{{- else if or .Values.auth.jwtSecret .Values.auth.adminPassword -}}
{{- printf "%s-auth" (include "ironflow.fullname" .) -}}
{{- end -}}
{{- end }}
