{{/* The chart's name. */}}
{{- define "tresor.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The release's full name: the release name when it already contains the chart name. */}}
{{- define "tresor.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "tresor.selectorLabels" -}}
app.kubernetes.io/name: {{ include "tresor.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "tresor.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "tresor.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: tresor
{{- end }}

{{/* The operator's ServiceAccount. */}}
{{- define "tresor.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "tresor.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "tresor.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* The Secret holding the Postgres URL. */}}
{{- define "tresor.postgresSecret" -}}
{{- if .Values.postgres.existingSecret }}
{{- .Values.postgres.existingSecret }}
{{- else if .Values.postgres.url }}
{{- printf "%s-postgres" (include "tresor.fullname" .) }}
{{- else }}
{{- fail "set postgres.existingSecret (a Secret holding the Postgres URL) or postgres.url" }}
{{- end }}
{{- end }}

{{/* The job label of the operator's scrape targets, for TresorOperatorDown. */}}
{{- define "tresor.scrapeJob" -}}
{{- default (printf "%s-metrics" (include "tresor.fullname" .)) .Values.alerts.operatorDown.job }}
{{- end }}

{{/* `max by (namespace, vm, policy)` of last success, else protected-since, restricted by a label selector. */}}
{{- define "tresor.lastSuccessOrSince" -}}
max by (namespace, vm, policy) (tresor_backup_last_success_timestamp_seconds{{ . }}) or max by (namespace, vm, policy) (tresor_backup_protected_since_timestamp_seconds{{ . }})
{{- end }}

{{/* A label selector of one backupMissing override: {policy="p",namespace="n"}. */}}
{{- define "tresor.overrideSelector" -}}
{{- if .namespace }}{policy="{{ .policy }}",namespace="{{ .namespace }}"}{{ else }}{policy="{{ .policy }}"}{{ end }}
{{- end }}
