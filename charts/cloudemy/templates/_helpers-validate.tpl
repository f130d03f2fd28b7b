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
{{- end -}}
