{{- /*
Names of the CNPG objects. They derive from the APP's fullname (not this
subchart's), so that they stay what they were when these templates lived in
the app chart. The helpers need only .Values and .Release: the app chart
calls them with this subchart's context ({{ include "postgresql.host"
.Subcharts.postgresql }}).
*/ -}}

{{- /* The app's fullname: appFullnameOverride, else the app chart's rule. */ -}}
{{- define "postgresql.appFullname" -}}
{{- if .Values.appFullnameOverride }}
{{- .Values.appFullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else if contains .Values.appName .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name .Values.appName | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{- /* CNPG Cluster "<app fullname>-pg". */ -}}
{{- define "postgresql.clusterName" -}}
{{- printf "%s-pg" (include "postgresql.appFullname" .) }}
{{- end }}

{{- /* CNPG Pooler "<cluster>-pooler-<type>"; CNPG names its Service the same. */ -}}
{{- define "postgresql.poolerName" -}}
{{- printf "%s-pooler-%s" (include "postgresql.clusterName" .) .Values.pooler.type }}
{{- end }}

{{- /*
Host the app connects to: the Pooler when a read-write pooler is enabled,
else CNPG's "<cluster>-rw" Service.
*/ -}}
{{- define "postgresql.host" -}}
{{- if and .Values.pooler.enabled (eq .Values.pooler.type "rw") }}
{{- include "postgresql.poolerName" . }}
{{- else }}
{{- printf "%s-rw" (include "postgresql.clusterName" .) }}
{{- end }}
{{- end }}

{{- /* Secret CNPG creates for the database owner (keys username, password). */ -}}
{{- define "postgresql.appSecretName" -}}
{{- printf "%s-app" (include "postgresql.clusterName" .) }}
{{- end }}

{{- define "postgresql.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: {{ .Values.appName }}
{{- end }}
