{{/* ---- Images ---- */}}

{{/*
Image reference: repository@digest when a digest is set, else repository:tag (tag defaults to the appVersion).
Usage: {{ include "cloudemy.image" (dict "image" .Values.backend.image "root" $) }}
*/}}
{{- define "cloudemy.image" -}}
{{- if .image.digest -}}
{{- printf "%s@%s" .image.repository .image.digest -}}
{{- else -}}
{{- printf "%s:%s" .image.repository (.image.tag | default .root.Chart.AppVersion | toString) -}}
{{- end -}}
{{- end -}}

{{/*
The imagePullSecrets block of a Pod spec, or nothing.
Usage: {{ include "cloudemy.imagePullSecrets" . | nindent 6 }}
*/}}
{{- define "cloudemy.imagePullSecrets" -}}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}
