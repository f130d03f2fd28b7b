{{/* ---- NetworkPolicy pieces ---- */}}

{{/*
A NetworkPolicy peer: the Pods of one component of this release.
Usage: {{ include "cloudemy.netpol.peer" (dict "root" $ "component" "backend") | nindent 8 }}
*/}}
{{- define "cloudemy.netpol.peer" -}}
- podSelector:
    matchLabels:
      {{- include "cloudemy.selectorLabels" . | nindent 6 }}
{{- end -}}

{{/*
Metadata of one NetworkPolicy, named <fullname>-<policy>.
Usage: {{ include "cloudemy.netpol.metadata" (dict "root" $ "policy" "backend" "component" "backend") }}
*/}}
{{- define "cloudemy.netpol.metadata" -}}
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: {{ include "cloudemy.componentName" (dict "root" .root "component" (printf "%s-netpol" .policy)) }}
  namespace: {{ .root.Release.Namespace }}
  labels:
    {{- include "cloudemy.labels" (dict "root" .root "component" .component) | nindent 4 }}
  {{- with (include "cloudemy.metadataAnnotations" (dict "root" .root) | trim) }}{{ . | nindent 2 }}{{- end }}
{{- end -}}

{{/*
Egress rule to external MongoDB / Redis (networkPolicy.externalDatabases), when a bundled one is off.
Usage: {{ include "cloudemy.netpol.externalDatabasesEgress" . | nindent 4 }}
*/}}
{{- define "cloudemy.netpol.externalDatabasesEgress" -}}
{{- if and (or (not .Values.mongodb.enabled) (not .Values.redis.enabled)) .Values.networkPolicy.externalDatabases.cidrs }}
- to:
    {{- range .Values.networkPolicy.externalDatabases.cidrs }}
    - ipBlock:
        cidr: {{ . }}
    {{- end }}
  ports:
    {{- range .Values.networkPolicy.externalDatabases.ports }}
    - protocol: TCP
      port: {{ . }}
    {{- end }}
{{- end }}
{{- end -}}

{{/*
Ingress peers allowed to scrape metrics (networkPolicy.metricsNamespaceSelector), or nothing.
Usage: {{ include "cloudemy.netpol.metricsFrom" . | nindent 8 }}
*/}}
{{- define "cloudemy.netpol.metricsFrom" -}}
{{- with .Values.networkPolicy.metricsNamespaceSelector }}
- namespaceSelector:
    {{- toYaml . | nindent 4 }}
{{- end }}
{{- end -}}

{{/*
Egress rule to the Kubernetes API server (networkPolicy.kubeApi), for the scheduler and the secret-init hook.
Usage: {{ include "cloudemy.netpol.kubeApiEgress" . | nindent 4 }}
*/}}
{{- define "cloudemy.netpol.kubeApiEgress" -}}
- to:
    {{- range .Values.networkPolicy.kubeApi.cidrs }}
    - ipBlock:
        cidr: {{ . }}
    {{- end }}
  ports:
    {{- range .Values.networkPolicy.kubeApi.ports }}
    - protocol: TCP
      port: {{ . }}
    {{- end }}
{{- end -}}
