{{/* The installation name: every other name derives from it. */}}
{{- define "openlit-operator.installation" -}}
{{- $name := .Values.installationName | default .Release.Name -}}
{{- if or (gt (len $name) 40) (not (regexMatch "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$" $name)) -}}
{{- fail (printf "installationName %q must be a lower-case DNS label of at most 40 characters" $name) -}}
{{- end -}}
{{- $name -}}
{{- end -}}

{{- define "openlit-operator.fullname" -}}
{{- printf "%s-operator" (include "openlit-operator.installation" .) -}}
{{- end -}}

{{- define "openlit-operator.serviceAccountName" -}}
{{- .Values.serviceAccount.name | default (include "openlit-operator.fullname" .) -}}
{{- end -}}

{{- define "openlit-operator.webhookServiceName" -}}
{{- printf "%s-webhook-service" (include "openlit-operator.installation" .) -}}
{{- end -}}

{{- define "openlit-operator.webhookConfigName" -}}
{{- printf "%s-mutating-webhook-configuration" (include "openlit-operator.installation" .) -}}
{{- end -}}

{{- define "openlit-operator.secretName" -}}
{{- .Values.certificates.secretName | default (printf "%s-webhook-server-certs" (include "openlit-operator.installation" .)) -}}
{{- end -}}

{{- define "openlit-operator.leaseName" -}}
{{- .Values.leaderElection.leaseName | default (printf "%s-operator-leader" (include "openlit-operator.installation" .)) -}}
{{- end -}}

{{- define "openlit-operator.selectorLabels" -}}
app.kubernetes.io/name: openlit-operator
app.kubernetes.io/instance: {{ include "openlit-operator.installation" . }}
{{- end -}}

{{- define "openlit-operator.labels" -}}
{{ include "openlit-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- end -}}

{{- define "openlit-operator.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) -}}
{{- end -}}
{{- end -}}

{{- define "openlit-operator.selfManaged" -}}
{{- if eq .Values.certificates.mode "self-managed" -}}true{{- else if eq .Values.certificates.mode "files" -}}{{- else -}}
{{- fail (printf "certificates.mode %q must be self-managed or files" .Values.certificates.mode) -}}
{{- end -}}
{{- end -}}
