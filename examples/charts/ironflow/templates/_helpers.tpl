{{/*
Chart name. Kept constant ("ironflow") on purpose: it feeds the
app.kubernetes.io/name selector label, which must never change between
upgrades (Deployment selectors are immutable).
*/}}
{{- define "ironflow.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Fully qualified app name, used for the Deployment, Services, HPA, PDB, the
CNPG Cluster (<fullname>-pg) and the release quota (<fullname>-quota).

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
NATS helpers. These reproduce the naming of the official nats-io/k8s chart
installed as a subchart called "nats": its fullname is "<release>-nats"
(or just the release name if that already contains "nats"), the headless
Service is "<fullname>-headless", the ConfigMap "<fullname>-config" and the
JetStream volumeClaimTemplate "<fullname>-js". Matching those names means
PVCs (<release>-nats-js-<release>-nats-<i>), route URLs and dashboards are
identical to a deployment made with the official chart.
--------------------------------------------------------------------- */}}
{{- define "ironflow.nats.fullname" -}}
{{- if contains "nats" .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-nats" .Release.Name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{- define "ironflow.nats.headlessName" -}}
{{- printf "%s-headless" (include "ironflow.nats.fullname" .) }}
{{- end }}

{{/*
Number of NATS servers: cluster.replicas when clustering is on, else 1.
*/}}
{{- define "ironflow.nats.replicas" -}}
{{- if .Values.nats.config.cluster.enabled }}
{{- .Values.nats.config.cluster.replicas | int }}
{{- else }}
{{- 1 }}
{{- end }}
{{- end }}

{{/*
NATS selector labels, same keys/values as the official chart.
*/}}
{{- define "ironflow.nats.selectorLabels" -}}
app.kubernetes.io/name: nats
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: nats
{{- end }}

{{- define "ironflow.nats.labels" -}}
helm.sh/chart: {{ include "ironflow.chart" . }}
{{ include "ironflow.nats.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.nats.image.tag | toString | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: ironflow
{{- end }}

{{/* ---------------------------------------------------------------------
PostgreSQL (CloudNativePG) helpers.
--------------------------------------------------------------------- */}}
{{- define "ironflow.pg.clusterName" -}}
{{- printf "%s-pg" (include "ironflow.fullname" .) }}
{{- end }}

{{- define "ironflow.pg.poolerName" -}}
{{- printf "%s-pooler-%s" (include "ironflow.pg.clusterName" .) .Values.postgresql.pooler.type }}
{{- end }}

{{/*
Host the app connects to: the pgbouncer Pooler when a read-write pooler is
enabled, otherwise CNPG's "<cluster>-rw" Service.
*/}}
{{- define "ironflow.pg.host" -}}
{{- if and .Values.postgresql.pooler.enabled (eq .Values.postgresql.pooler.type "rw") }}
{{- include "ironflow.pg.poolerName" . }}
{{- else }}
{{- printf "%s-rw" (include "ironflow.pg.clusterName" .) }}
{{- end }}
{{- end }}
