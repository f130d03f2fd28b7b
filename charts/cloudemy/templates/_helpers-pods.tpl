{{/* ---- Pieces shared by Pod specs ---- */}}

{{/*
Scheduling fields of a Pod spec (nodeSelector, tolerations, affinity, spread, priority) from one component's values.
Usage: {{ include "cloudemy.podScheduling" .Values.backend | nindent 6 }}
*/}}
{{- define "cloudemy.podScheduling" -}}
{{- with .nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .topologySpreadConstraints }}
topologySpreadConstraints:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .priorityClassName }}
priorityClassName: {{ . }}
{{- end }}
{{- end -}}

{{/*
The writable /tmp volume every read-only container gets.
Usage: {{ include "cloudemy.tmpVolume" . | nindent 8 }}
*/}}
{{- define "cloudemy.tmpVolume" -}}
- name: tmp
  emptyDir:
    sizeLimit: 256Mi
{{- end -}}
