{{/* The chart's name, overridable. */}}
{{- define "airlock.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The release's full name: the release name, with the chart name unless it already holds it. */}}
{{- define "airlock.fullname" -}}
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

{{/* A function's component name: its binary without the "airlock-" prefix. Takes the function's values. */}}
{{- define "airlock.component" -}}
{{- trimPrefix "airlock-" .binary }}
{{- end }}

{{/* The name of one function's objects. Takes (dict "root" $ "fn" $fn). */}}
{{- define "airlock.componentName" -}}
{{- printf "%s-%s" (include "airlock.fullname" .root) (include "airlock.component" .fn) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "airlock.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels on every object. */}}
{{- define "airlock.labels" -}}
helm.sh/chart: {{ include "airlock.chart" . }}
app.kubernetes.io/name: {{ include "airlock.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: airlock
{{- end }}

{{/* Selector labels of one function. Takes (dict "root" $ "fn" $fn). */}}
{{- define "airlock.selectorLabels" -}}
app.kubernetes.io/name: {{ include "airlock.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ include "airlock.component" .fn }}
{{- end }}

{{/* Labels of one function's objects. Takes (dict "root" $ "fn" $fn). */}}
{{- define "airlock.componentLabels" -}}
{{ include "airlock.labels" .root }}
app.kubernetes.io/component: {{ include "airlock.component" .fn }}
{{- end }}

{{- define "airlock.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "airlock.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* <registry>/<image>:<tag>, the tag defaulting to the chart's appVersion. */}}
{{- define "airlock.image" -}}
{{- $tag := default .Chart.AppVersion .Values.tag }}
{{- if .Values.registry }}
{{- printf "%s/%s:%s" (trimSuffix "/" .Values.registry) .Values.image $tag }}
{{- else }}
{{- printf "%s:%s" .Values.image $tag }}
{{- end }}
{{- end }}

{{/* envFrom: the primary secret, then every extra secret. Empty when there is none. */}}
{{- define "airlock.envFrom" -}}
{{- with .Values.secretName }}
- secretRef:
    name: {{ . }}
{{- end }}
{{- range .Values.extraEnvSecrets }}
- secretRef:
    name: {{ . }}
{{- end }}
{{- end }}

{{/*
Inline variables of one function: OTEL_SERVICE_NAME (unless set), the non-empty `settings`,
then the chart-wide `env`, then the function's own `env`. Takes (dict "root" $ "fn" $fn).
*/}}
{{- define "airlock.env" -}}
{{- $settings := .root.Values.settings | default dict }}
{{- if not (get $settings "OTEL_SERVICE_NAME") }}
- name: OTEL_SERVICE_NAME
  value: {{ .fn.binary | quote }}
{{- end }}
{{- range $name, $value := $settings }}
{{- if and (not (kindIs "invalid" $value)) (ne (toString $value) "") }}
- name: {{ $name }}
  value: {{ toString $value | quote }}
{{- end }}
{{- end }}
{{- with .root.Values.env }}
{{ toYaml . }}
{{- end }}
{{- with .fn.env }}
{{ toYaml . }}
{{- end }}
{{- end }}
