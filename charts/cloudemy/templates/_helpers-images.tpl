{{/* ---- Images ---- */}}

{{/*
Image reference, Bitnami-style: [registry/]repository then @digest when a digest is set, else :tag (the tag
defaults to the chart's appVersion). global.imageRegistry, when set, replaces every image's registry (a mirror).
Usage: {{ include "cloudemy.image" (dict "image" .Values.backend.image "root" $) }}
*/}}
{{- define "cloudemy.image" -}}
{{- $registry := .root.Values.global.imageRegistry | default .image.registry -}}
{{- $name := .image.repository -}}
{{- if $registry -}}
{{- $name = printf "%s/%s" (trimSuffix "/" $registry) .image.repository -}}
{{- end -}}
{{- if .image.digest -}}
{{- printf "%s@%s" $name .image.digest -}}
{{- else -}}
{{- printf "%s:%s" $name (.image.tag | default .root.Chart.AppVersion | toString) -}}
{{- end -}}
{{- end -}}

{{/*
The imagePullSecrets block of a Pod spec (global.imagePullSecrets, then imagePullSecrets), or nothing.
Usage: {{ include "cloudemy.imagePullSecrets" . | nindent 6 }}
*/}}
{{- define "cloudemy.imagePullSecrets" -}}
{{- $secrets := concat (.Values.global.imagePullSecrets | default list) (.Values.imagePullSecrets | default list) | uniq -}}
{{- with $secrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/*
The image of every language in runner.languages, as compact JSON {"python": "repo:tag", ...} for the scheduler's
RUNNER_LANGUAGE_IMAGES. A language's image fields override runner.image's; a language that sets its own registry,
repository or tag does not inherit the runner image's digest (that digest names another image).
Usage: {{ include "cloudemy.runner.languageImages" . | quote }}
*/}}
{{- define "cloudemy.runner.languageImages" -}}
{{- $images := dict -}}
{{- range $language, $spec := .Values.runner.languages -}}
{{- $own := (($spec | default dict).image | default dict) -}}
{{- $image := deepCopy $.Values.runner.image -}}
{{- if or $own.registry $own.repository $own.tag -}}
{{- $_ := set $image "digest" "" -}}
{{- end -}}
{{- range $field := list "registry" "repository" "tag" "digest" -}}
{{- if (index $own $field) -}}
{{- $_ := set $image $field (index $own $field) -}}
{{- end -}}
{{- end -}}
{{- $_ := set $images $language (include "cloudemy.image" (dict "image" $image "root" $)) -}}
{{- end -}}
{{- toJson $images -}}
{{- end -}}
