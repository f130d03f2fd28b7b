{{/* ---- Monitoring: ServiceMonitors, PrometheusRule, Grafana dashboard (prometheus-operator and Grafana's sidecar). ---- */}}

{{/*
The `job` label Prometheus gives one component's metrics: prometheus-operator names the job after the Service.
Usage: {{ include "cloudemy.metrics.job" (dict "root" $ "component" "backend") }}
*/}}
{{- define "cloudemy.metrics.job" -}}
{{- include "cloudemy.componentName" (dict "root" .root "component" .component) -}}
{{- end -}}

{{/*
A PromQL label matcher for one component's series: its job and the release's namespace.
Usage: cloudemy_queue_length{ {{- include "cloudemy.metrics.selector" (dict "root" $ "component" "backend") -}} }
*/}}
{{- define "cloudemy.metrics.selector" -}}
{{- printf "job=%q, namespace=%q" (include "cloudemy.metrics.job" .) .root.Release.Namespace -}}
{{- end -}}

{{/*
A ServiceMonitor for one component's Service (port name and path given).
Usage: {{ include "cloudemy.metrics.serviceMonitor" (dict "root" $ "component" "backend" "port" "http") }}
*/}}
{{- define "cloudemy.metrics.serviceMonitor" -}}
{{- $monitor := .root.Values.metrics.serviceMonitor }}
apiVersion: monitoring.coreos.com/v1
kind: ServiceMonitor
metadata:
  name: {{ include "cloudemy.componentName" (dict "root" .root "component" .component) }}
  namespace: {{ $monitor.namespace | default .root.Release.Namespace }}
  labels:
    {{- include "cloudemy.labels" (dict "root" .root "component" .component "extra" $monitor.labels) | nindent 4 }}
  {{- with (include "cloudemy.metadataAnnotations" (dict "root" .root) | trim) }}{{ . | nindent 2 }}{{- end }}
spec:
  namespaceSelector:
    matchNames:
      - {{ .root.Release.Namespace }}
  selector:
    matchLabels:
      {{- include "cloudemy.selectorLabels" (dict "root" .root "component" .component) | nindent 6 }}
  endpoints:
    - port: {{ .port }}
      path: /metrics
      interval: {{ $monitor.interval }}
      {{- with $monitor.scrapeTimeout }}
      scrapeTimeout: {{ . }}
      {{- end }}
      {{- with $monitor.relabelings }}
      relabelings:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $monitor.metricRelabelings }}
      metricRelabelings:
        {{- toYaml . | nindent 8 }}
      {{- end }}
{{- end -}}
