{{/* Names and labels shared by every object of the release. */}}
{{- define "mgitd.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "mgitd.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "mgitd.labels" -}}
{{ include "mgitd.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{- define "mgitd.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "mgitd.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- required "serviceAccount.name is required when serviceAccount.create is false (the default service account is never used)" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "mgitd.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) -}}
{{- end -}}
{{- end -}}

{{/*
A TOML basic string. A JSON string is one: JSON's escapes (\" \\ \n \t \uXXXX, also for every
other control character and for & < >) are all TOML escapes too. (JSON leaves DEL raw, which
TOML forbids; no setting contains it.)
*/}}
{{- define "mgitd.configString" -}}
{{ . | toString | toJson }}
{{- end -}}

{{/*
The mgitd config file, flat TOML (docs/configuration.md): strings quoted, integers and booleans
bare, kafka_property as an array of strings. Empty strings are left out so mgitd's own defaults
apply.
*/}}
{{- define "mgitd.configFile" -}}
# Rendered by the mgitd Helm chart from .Values.config; see docs/configuration.md.
{{- range $key, $value := .Values.config }}
{{- if kindIs "slice" $value }}
{{- if $value }}
{{ $key }} = [{{ range $i, $item := $value }}{{ if $i }}, {{ end }}{{ include "mgitd.configString" $item }}{{ end }}]
{{- end }}
{{- else if kindIs "string" $value }}
{{- if $value }}
{{ $key }} = {{ include "mgitd.configString" $value }}
{{- end }}
{{- else if kindIs "bool" $value }}
{{ $key }} = {{ $value }}
{{- else }}
{{ $key }} = {{ int64 $value }}
{{- end }}
{{- end }}
{{- if .Values.kafka.secretsFile.secretName }}
kafka_secrets_file = "/etc/mgitd/kafka-secrets/{{ .Values.kafka.secretsFile.secretKey }}"
{{- end }}
{{- with .Values.webhooks }}
{{- if .enabled }}
# The webhook listener, from .Values.webhooks (webhook_listen and webhook_routes_file are
# environment variables set by the chart).
webhook_ack_timeout_ms = {{ int64 .ackTimeoutMs }}
webhook_max_body_bytes = {{ int64 .maxBodyBytes }}
webhook_max_connections = {{ int64 .maxConnections }}
webhook_header_timeout_seconds = {{ int64 .headerTimeoutSeconds }}
webhook_read_timeout_seconds = {{ int64 .readTimeoutSeconds }}
webhook_rate_per_second = {{ int64 .ratePerSecond }}
webhook_rate_burst = {{ int64 .rateBurst }}
{{- if .spoolDir }}
webhook_spool_dir = {{ include "mgitd.configString" .spoolDir }}
{{- end }}
{{- if .trustedProxies }}
webhook_trusted_proxies = [{{ range $i, $cidr := .trustedProxies }}{{ if $i }}, {{ end }}{{ include "mgitd.configString" $cidr }}{{ end }}]
{{- end }}
{{- end }}
{{- end }}
{{ end -}}

{{/*
Webhook values that the schema cannot check on its own; included by the StatefulSet, so every
rendering fails on them.
*/}}
{{- define "mgitd.webhooks.validate" -}}
{{- $wh := .Values.webhooks -}}
{{- if $wh.enabled -}}
{{- if not (trim $wh.routes) -}}
{{- fail "webhooks.routes is required when webhooks.enabled is true: the routes file (TOML) is the allowlist of providers and repositories" -}}
{{- end -}}
{{- if not $wh.secretName -}}
{{- fail "webhooks.secretName is required when webhooks.enabled is true: an existing Secret whose keys are the routes' secret files" -}}
{{- end -}}
{{- if eq (int $wh.port) (int .Values.http.port) -}}
{{- fail "webhooks.port must differ from http.port: the webhook listener is a listener of its own" -}}
{{- end -}}
{{- else if $wh.ingress.enabled -}}
{{- fail "webhooks.ingress.enabled needs webhooks.enabled: the Ingress has no listener to route to" -}}
{{- end -}}
{{- end -}}
