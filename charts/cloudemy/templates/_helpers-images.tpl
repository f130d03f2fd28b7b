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

{{/*
The image of every language in runner.languages, as compact JSON {"python": "repo:tag", ...} for the scheduler's
RUNNER_LANGUAGE_IMAGES. A language's image fields override runner.image's; a language that sets its own repository
or tag does not inherit the runner image's digest (that digest names another image).
Usage: {{ include "cloudemy.runner.languageImages" . | quote }}
*/}}
{{- define "cloudemy.runner.languageImages" -}}
{{- $images := dict -}}
{{- range $language, $spec := .Values.runner.languages -}}
{{- $own := (($spec | default dict).image | default dict) -}}
{{- $image := deepCopy $.Values.runner.image -}}
{{- if or $own.repository $own.tag -}}
{{- $_ := set $image "digest" "" -}}
{{- end -}}
{{- range $field := list "repository" "tag" "digest" -}}
{{- if (index $own $field) -}}
{{- $_ := set $image $field (index $own $field) -}}
{{- end -}}
{{- end -}}
{{- $_ := set $images $language (include "cloudemy.image" (dict "image" $image "root" $)) -}}
{{- end -}}
{{- toJson $images -}}
{{- end -}}
