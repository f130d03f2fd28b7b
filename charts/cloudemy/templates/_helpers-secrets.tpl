{{/* ---- Secrets: one Secret per release, or the user's existingSecret instead. ---- */}}

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
One value of the chart's Secret: the given value, else the one already in the cluster (so upgrades keep it),
else a new random URL-safe string. Returns the plain value (the caller base64-encodes it).
Usage: {{ include "cloudemy.secretValue" (dict "root" $ "key" "JWT_SECRET" "value" .Values.secrets.jwtSecret) }}
*/}}
{{- define "cloudemy.secretValue" -}}
{{- if .value -}}
{{- .value -}}
{{- else -}}
{{- $existing := lookup "v1" "Secret" .root.Release.Namespace (include "cloudemy.fullname" .root) -}}
{{- $stored := "" -}}
{{- if and $existing $existing.data -}}
{{- $stored = index $existing.data .key | default "" | b64dec -}}
{{- end -}}
{{- $stored | default (randAlphaNum 32) -}}
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
      name: {{ include "cloudemy.secretName" .root }}
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
