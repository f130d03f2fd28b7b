{{/* ---- Images ---- */}}

{{/*
Image reference, Bitnami-style: [registry/]repository then @digest when a digest is set, else :tag (the tag
defaults to the chart's appVersion). global.imageRegistry, when set, replaces every image's registry (a mirror).
A repository that already names a registry (its first part holds a dot or a colon, or is localhost, as in values
written for earlier chart versions: ghcr.io/cloudemy/cloudemy-backend) keeps it unless global.imageRegistry is set.
Usage: {{ include "cloudemy.image" (dict "image" .Values.backend.image "root" $) }}
*/}}
{{- define "cloudemy.image" -}}
{{- $registry := .root.Values.global.imageRegistry | default .image.registry -}}
{{- $name := .image.repository -}}
{{- $first := splitList "/" $name | first -}}
{{- $named := and (contains "/" $name) (or (contains "." $first) (contains ":" $first) (eq $first "localhost")) -}}
{{- if and $registry (not $named) -}}
{{- $name = printf "%s/%s" (trimSuffix "/" $registry) .image.repository -}}
{{- else if and $named .root.Values.global.imageRegistry -}}
{{- $name = printf "%s/%s" (trimSuffix "/" $registry) (splitList "/" $name | rest | join "/") -}}
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
