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
{{ end -}}
