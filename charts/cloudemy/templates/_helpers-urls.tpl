{{/* ---- Service names, ports and URLs: every URL in any env is built here, from release-derived names. ---- */}}

{{/*
The backend's HTTP port (API, UI, /internal, probes, metrics), fixed at 8000 (the port every component and probe expects).
Usage: {{ include "cloudemy.port.backend" . }}
*/}}
{{- define "cloudemy.port.backend" -}}8000{{- end -}}

{{/*
The frontend's HTTP port (Next.js), fixed at 3000.
Usage: {{ include "cloudemy.port.frontend" . }}
*/}}
{{- define "cloudemy.port.frontend" -}}3000{{- end -}}

{{/*
MongoDB's port, fixed at 27017 (MongoDB's default).
Usage: {{ include "cloudemy.port.mongodb" . }}
*/}}
{{- define "cloudemy.port.mongodb" -}}27017{{- end -}}

{{/*
Redis' port, fixed at 6379 (Redis' default).
Usage: {{ include "cloudemy.port.redis" . }}
*/}}
{{- define "cloudemy.port.redis" -}}6379{{- end -}}

{{/*
The scheduler's /healthz and /metrics port (METRICS_PORT), fixed to the scheduler's default 9090.
Usage: {{ include "cloudemy.port.schedulerMetrics" . }}
*/}}
{{- define "cloudemy.port.schedulerMetrics" -}}9090{{- end -}}

{{/*
The backend's internal API base URL (BACKEND_INTERNAL_URL), on the backend Service.
Usage: {{ include "cloudemy.backend.internalUrl" . }}
*/}}
{{- define "cloudemy.backend.internalUrl" -}}
{{- printf "http://%s:%s/internal" (include "cloudemy.componentName" (dict "root" . "component" "backend")) (include "cloudemy.port.backend" .) -}}
{{- end -}}

{{/*
The backend's root URL on its Service (used by the helm test Pod).
Usage: {{ include "cloudemy.backend.url" . }}
*/}}
{{- define "cloudemy.backend.url" -}}
{{- printf "http://%s:%s" (include "cloudemy.componentName" (dict "root" . "component" "backend")) (include "cloudemy.port.backend" .) -}}
{{- end -}}

{{/*
Public URL of the platform (scheme and Ingress host, else the HTTPRoute's first host name), or nothing without either.
Usage: {{ include "cloudemy.publicUrl" . }}
*/}}
{{- define "cloudemy.publicUrl" -}}
{{- if .Values.ingress.enabled -}}
{{- printf "%s://%s" (ternary "https" "http" .Values.ingress.tls.enabled) .Values.ingress.host -}}
{{- else if .Values.httpRoute.enabled -}}
{{- printf "%s://%s" .Values.httpRoute.scheme (include "cloudemy.httpRoute.hostnames" . | fromYamlArray | first) -}}
{{- end -}}
{{- end -}}

{{/*
Host names of the HTTPRoute, as a YAML list: httpRoute.hostnames, else ingress.host.
Usage: {{ include "cloudemy.httpRoute.hostnames" . | fromYamlArray }}
*/}}
{{- define "cloudemy.httpRoute.hostnames" -}}
{{- toYaml (.Values.httpRoute.hostnames | default (list .Values.ingress.host)) -}}
{{- end -}}

{{/*
CORS_ORIGINS: config.corsOrigins joined by commas, else the public URL.
Usage: {{ include "cloudemy.corsOrigins" . }}
*/}}
{{- define "cloudemy.corsOrigins" -}}
{{- if .Values.config.corsOrigins -}}
{{- join "," .Values.config.corsOrigins -}}
{{- else -}}
{{- include "cloudemy.publicUrl" . -}}
{{- end -}}
{{- end -}}

{{/*
Env entries that define MONGO_URI. Bundled MongoDB: the root password from the Secret, then a URL that refers to it
with Kubernetes' $(VAR) syntax, so no password is written in a manifest. External: the whole URI from a Secret.
Usage: {{ include "cloudemy.env.mongo" . | nindent 12 }}
*/}}
{{- define "cloudemy.env.mongo" -}}
{{- if .Values.mongodb.enabled -}}
{{ include "cloudemy.secretEnv" (dict "root" . "name" "MONGODB_APP_PASSWORD") }}
- name: MONGO_URI
  value: {{ include "cloudemy.mongodb.appUri" . | quote }}
{{- else if .Values.externalMongodb.existingSecret -}}
- name: MONGO_URI
  valueFrom:
    secretKeyRef:
      name: {{ .Values.externalMongodb.existingSecret }}
      key: {{ .Values.externalMongodb.existingSecretKey }}
{{- else -}}
{{ include "cloudemy.secretEnv" (dict "root" . "name" "MONGO_URI") }}
{{- end -}}
{{- end -}}

{{/*
Env entries that define REDIS_URL (same rules as MONGO_URI; REDIS_PASSWORD first for the bundled Redis).
Usage: {{ include "cloudemy.env.redis" . | nindent 12 }}
*/}}
{{- define "cloudemy.env.redis" -}}
{{- if .Values.redis.enabled -}}
{{ include "cloudemy.secretEnv" (dict "root" . "name" "REDIS_PASSWORD") }}
- name: REDIS_URL
  value: {{ printf "redis://:$(REDIS_PASSWORD)@%s:%s/0" (include "cloudemy.componentName" (dict "root" . "component" "redis")) (include "cloudemy.port.redis" .) | quote }}
{{- else if .Values.externalRedis.existingSecret -}}
- name: REDIS_URL
  valueFrom:
    secretKeyRef:
      name: {{ .Values.externalRedis.existingSecret }}
      key: {{ .Values.externalRedis.existingSecretKey }}
{{- else -}}
{{ include "cloudemy.secretEnv" (dict "root" . "name" "REDIS_URL") }}
{{- end -}}
{{- end -}}

{{/*
Env entries that define the runner's REDIS_URL: its own least-privilege user. Bundled Redis: the runner user's
password (Secret key REDIS_RUNNER_PASSWORD, env REDIS_PASSWORD) and a URL with that user referring to it.
External: the runner's URL from a Secret (externalRedis.runnerUrl / runnerExistingSecretKey), else the services'
REDIS_URL (NOTES.txt warns: runner pods then hold the full Redis password).
Usage: {{ include "cloudemy.env.redisRunner" . | nindent 12 }}
*/}}
{{- define "cloudemy.env.redisRunner" -}}
{{- $ref := include "cloudemy.redis.externalRunnerUrlRef" . | fromYaml -}}
{{- if .Values.redis.enabled -}}
{{ include "cloudemy.secretEnv" (dict "root" . "name" "REDIS_PASSWORD" "key" "REDIS_RUNNER_PASSWORD") }}
- name: REDIS_URL
  value: {{ printf "redis://%s:$(REDIS_PASSWORD)@%s:%s/0" (include "cloudemy.redis.runnerUser" .) (include "cloudemy.componentName" (dict "root" . "component" "redis")) (include "cloudemy.port.redis" .) | quote }}
{{- else if $ref -}}
- name: REDIS_URL
  valueFrom:
    secretKeyRef:
      name: {{ $ref.name }}
      key: {{ $ref.key }}
{{- else -}}
{{ include "cloudemy.env.redis" . }}
{{- end -}}
{{- end -}}

{{/*
Connection URL of the bundled MongoDB as its application user (readWrite on config.dbName only; never root),
through the replica set. $(MONGODB_APP_PASSWORD) is expanded by the kubelet from the env entry before it.
Usage: {{ include "cloudemy.mongodb.appUri" . | quote }}
*/}}
{{- define "cloudemy.mongodb.appUri" -}}
{{- $host := include "cloudemy.componentName" (dict "root" . "component" "mongodb") -}}
{{- printf "mongodb://%s:$(MONGODB_APP_PASSWORD)@%s:%s/%s?authSource=%s&replicaSet=%s" .Values.mongodb.appUser $host (include "cloudemy.port.mongodb" .) .Values.config.dbName .Values.config.dbName .Values.mongodb.replicaSetName -}}
{{- end -}}

{{/*
Where browsers and LMS platforms reach Cloudemy: lti.publicBaseUrl, else the Ingress host (https when the
Ingress serves TLS), else empty (the backend then uses each request's own origin).
Usage: {{ include "cloudemy.publicBaseUrl" . }}
*/}}
{{- define "cloudemy.publicBaseUrl" -}}
{{- if .Values.lti.publicBaseUrl -}}
{{- .Values.lti.publicBaseUrl | trimSuffix "/" -}}
{{- else if and .Values.ingress.enabled .Values.ingress.host -}}
{{- ternary "https" "http" .Values.ingress.tls.enabled }}://{{ .Values.ingress.host -}}
{{- end -}}
{{- end -}}
