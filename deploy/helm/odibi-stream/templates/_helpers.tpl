{{- define "odibi-stream.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "odibi-stream.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "odibi-stream.selectorLabels" -}}
app.kubernetes.io/name: {{ include "odibi-stream.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "odibi-stream.labels" -}}
{{ include "odibi-stream.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{- define "odibi-stream.image" -}}
{{- $tag := .Values.image.tag | default .Chart.AppVersion -}}
{{- if eq $tag "latest" -}}
{{- fail "image.tag: pin a version; `latest` makes kubelet pull on every start" -}}
{{- end -}}
{{- printf "%s:%s" .Values.image.repository $tag -}}
{{- end -}}

{{- define "odibi-stream.tokenSecret" -}}
{{- .Values.apiToken.existingSecret | default (printf "%s-api-token" (include "odibi-stream.fullname" .)) -}}
{{- end -}}

{{- define "odibi-stream.projectConfigMap" -}}
{{- .Values.project.existingConfigMap | default (printf "%s-project" (include "odibi-stream.fullname" .)) -}}
{{- end -}}

{{/* ConfigMap keys cannot hold "/": pipelines/orders.yaml -> pipelines__orders.yaml */}}
{{- define "odibi-stream.fileKey" -}}
{{- . | replace "/" "__" -}}
{{- end -}}

{{/* Checks that make a wrong combination fail at install time rather than at run time. */}}
{{- define "odibi-stream.validate" -}}
{{- if not (or .Values.project.files .Values.project.existingConfigMap) -}}
{{- fail "project: set project.files (scripts/deploy/helm_project_values.py DIR) or project.existingConfigMap" -}}
{{- end -}}
{{- if and .Values.project.existingConfigMap (not .Values.project.items) -}}
{{- fail "project.items: map the ConfigMap's keys to paths (pipelines/*.yaml must be in a subfolder)" -}}
{{- end -}}
{{- if not (has .Values.storage.mode (list "volume" "azure")) -}}
{{- fail "storage.mode must be volume or azure" -}}
{{- end -}}
{{- if and (eq .Values.storage.mode "volume") (gt (int .Values.replicas) 1) -}}
{{- fail "replicas > 1 needs storage.mode: azure (checkpoint leases on shared storage); a ReadWriteOnce volume holds one active daemon" -}}
{{- end -}}
{{- if le (int .Values.terminationGracePeriodSeconds) (int .Values.shutdownGraceSeconds) -}}
{{- fail "terminationGracePeriodSeconds must exceed shutdownGraceSeconds (the drain)" -}}
{{- end -}}
{{- if not (has .Values.probes.mode (list "port" "exec")) -}}
{{- fail "probes.mode must be port or exec" -}}
{{- end -}}
{{- end -}}
