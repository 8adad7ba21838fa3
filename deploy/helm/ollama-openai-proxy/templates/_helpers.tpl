{{- define "oop.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "oop.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "oop.labels" -}}
{{ include "oop.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{/* A shared store: replicas agree only with PostgreSQL (or a Secret that may name one). */}}
{{- define "oop.shared" -}}
{{- if or .Values.database.url .Values.existingSecret -}}true{{- end -}}
{{- end -}}

{{- define "oop.secretName" -}}
{{- .Values.existingSecret | default (include "oop.fullname" .) -}}
{{- end -}}
