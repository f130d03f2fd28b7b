{{/* ---- Secrets: the chart's own Secret (values given, deterministic: two renders are byte-identical) plus the
     generated Secret the secret-init hook creates once; or the user's existingSecret instead of both. ---- */}}

{{/*
Name of the Secret every secretKeyRef points to: secrets.existingSecret when set, else the chart's own.
Usage: {{ include "cloudemy.secretName" . }}
*/}}
{{- define "cloudemy.secretName" -}}
{{- if .Values.secrets.existingSecret -}}
{{- .Values.secrets.existingSecret -}}
{{- else -}}
{{- include "cloudemy.fullname" . -}}
{{- end -}}
{{- end -}}

{{/*
True (non-empty) when the chart renders its own Secret, i.e. no existingSecret replaces it.
Usage: {{ if include "cloudemy.createSecret" . }}...{{ end }}
*/}}
{{- define "cloudemy.createSecret" -}}
{{- if not .Values.secrets.existingSecret -}}true{{- end -}}
{{- end -}}

{{/*
Name of the Secret the secret-init hook Job creates once and never changes: the generated credentials.
Usage: {{ include "cloudemy.generatedSecretName" . }}
*/}}
{{- define "cloudemy.generatedSecretName" -}}
{{- printf "%s-generated" (include "cloudemy.fullname" . | trunc 53 | trimSuffix "-") -}}
{{- end -}}

{{/*
The credentials the chart can generate, as a YAML map of Secret key to the value given in values (empty: generate).
The database passwords are listed only with the bundled database that uses them.
Usage: {{ include "cloudemy.credentialValues" . | fromYaml }}
*/}}
{{- define "cloudemy.credentialValues" -}}
INTERNAL_RESULT_TOKEN: {{ .Values.secrets.internalResultToken | quote }}
JWT_SECRET: {{ .Values.secrets.jwtSecret | quote }}
CLOUDEMY_ADMIN_PASSWORD: {{ .Values.secrets.adminPassword | quote }}
{{- if .Values.mongodb.enabled }}
MONGODB_ROOT_PASSWORD: {{ .Values.secrets.mongodbRootPassword | quote }}
MONGODB_APP_PASSWORD: {{ .Values.secrets.mongodbAppPassword | quote }}
{{- end }}
{{- if .Values.redis.enabled }}
REDIS_PASSWORD: {{ .Values.secrets.redisPassword | quote }}
REDIS_RUNNER_PASSWORD: {{ .Values.secrets.redisRunnerPassword | quote }}
{{- end }}
{{- end -}}

{{/*
The keys the secret-init hook generates (sorted, comma-separated): credentials left empty in values, when the
chart manages the credentials (no secrets.existingSecret). Empty when there is nothing to generate.
Usage: {{ include "cloudemy.generatedKeys" . }}
*/}}
{{- define "cloudemy.generatedKeys" -}}
{{- if include "cloudemy.createSecret" . -}}
{{- $keys := list -}}
{{- range $key, $value := (include "cloudemy.credentialValues" . | fromYaml) -}}
{{- if not $value -}}{{- $keys = append $keys $key -}}{{- end -}}
{{- end -}}
{{- join "," (sortAlpha $keys) -}}
{{- end -}}
{{- end -}}

{{/*
Name of the Secret that holds one key: secrets.existingSecret when set; else the generated Secret for a
credential left empty in values; else the chart's own Secret (given values, LLM key, external URLs).
Usage: {{ include "cloudemy.secretNameFor" (dict "root" $ "key" "JWT_SECRET") }}
*/}}
{{- define "cloudemy.secretNameFor" -}}
{{- if .root.Values.secrets.existingSecret -}}
{{- .root.Values.secrets.existingSecret -}}
{{- else if has .key (splitList "," (include "cloudemy.generatedKeys" .root)) -}}
{{- include "cloudemy.generatedSecretName" .root -}}
{{- else -}}
{{- include "cloudemy.fullname" .root -}}
{{- end -}}
{{- end -}}

{{/*
An env entry whose value comes from a key of the release's Secret.
Usage: {{ include "cloudemy.secretEnv" (dict "root" $ "name" "JWT_SECRET") }}
       (optional "key" when the Secret key differs from the variable name)
*/}}
{{- define "cloudemy.secretEnv" -}}
- name: {{ .name }}
  valueFrom:
    secretKeyRef:
      name: {{ include "cloudemy.secretNameFor" (dict "root" .root "key" (.key | default .name)) }}
      key: {{ .key | default .name }}
{{- end -}}

{{/*
Checksum annotation of the chart's Secret, so that Pods restart when a credential changes.
Usage: {{ include "cloudemy.secretChecksum" . | nindent 8 }}
*/}}
{{- define "cloudemy.secretChecksum" -}}
{{- if include "cloudemy.createSecret" . -}}
checksum/secret: {{ include (print .Template.BasePath "/secret.yaml") . | sha256sum }}
{{- else -}}
checksum/secret: {{ .Values.secrets.existingSecret | sha256sum }}
{{- end -}}
{{- end -}}
