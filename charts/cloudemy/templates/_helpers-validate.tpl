{{/* ---- Checks that stop a render with a readable message (the schema checks types and ranges). ---- */}}

{{/*
Fails on combinations of values that cannot work.
Usage: {{ include "cloudemy.validate" . }}
*/}}
{{- define "cloudemy.validate" -}}
{{- $own := include "cloudemy.createSecret" . -}}
{{- if and (not .Values.mongodb.enabled) (not .Values.externalMongodb.existingSecret) $own (not .Values.externalMongodb.uri) -}}
{{- fail "mongodb.enabled=false needs externalMongodb.uri or externalMongodb.existingSecret" -}}
{{- end -}}
{{- if and (not .Values.redis.enabled) (not .Values.externalRedis.existingSecret) $own (not .Values.externalRedis.url) -}}
{{- fail "redis.enabled=false needs externalRedis.url or externalRedis.existingSecret" -}}
{{- end -}}
{{- if and .Values.frontend.enabled (not .Values.frontend.image.repository) -}}
{{- fail "frontend.enabled=true needs frontend.image.repository (the Next.js image)" -}}
{{- end -}}
{{- if and .Values.httpRoute.enabled (not .Values.httpRoute.parentRefs) -}}
{{- fail "httpRoute.enabled=true needs httpRoute.parentRefs (the Gateway to attach to)" -}}
{{- end -}}
{{- if and .Values.httpRoute.enabled (not .Values.httpRoute.hostnames) (not .Values.ingress.host) -}}
{{- fail "httpRoute.enabled=true needs httpRoute.hostnames or ingress.host" -}}
{{- end -}}
{{- if and .Values.ingress.enabled (not .Values.ingress.host) -}}
{{- fail "ingress.enabled=true needs ingress.host" -}}
{{- end -}}
{{- include "cloudemy.validate.existingSecret" . -}}
{{- end -}}

{{/*
Fails when secrets.existingSecret exists but lacks a key the release reads from it (for instance
REDIS_RUNNER_PASSWORD, which an upgrade to the Redis runner user needs): the Pods would not start, and the
bundled Redis would stay down. Checked where Helm can read the cluster (install, upgrade, --dry-run=server);
`helm template` and GitOps renders read nothing (lookup is empty) and skip it.
Usage: {{ include "cloudemy.validate.existingSecret" . }}
*/}}
{{- define "cloudemy.validate.existingSecret" -}}
{{- with .Values.secrets.existingSecret -}}
{{- $existing := lookup "v1" "Secret" $.Release.Namespace . -}}
{{- if $existing -}}
{{- $missing := list -}}
{{- $keys := append (keys (include "cloudemy.credentialValues" $ | fromYaml)) "LLM_API_KEY" -}}
{{- range $key := $keys -}}
{{- if not (hasKey ($existing.data | default dict) $key) -}}{{- $missing = append $missing $key -}}{{- end -}}
{{- end -}}
{{- if $missing -}}
{{- fail (printf "secrets.existingSecret %s has no key %s: add it (e.g. openssl rand -hex 24; docs/install.md lists every key)" . (join ", " (sortAlpha $missing))) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
