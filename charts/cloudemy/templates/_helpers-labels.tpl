{{/* ---- Labels: selectors use only name, instance and component, and never change between versions. ---- */}}

{{/*
Selector labels of one component (immutable: used in Deployment and StatefulSet selectors).
Usage: {{ include "cloudemy.selectorLabels" (dict "root" $ "component" "backend") }}
*/}}
{{- define "cloudemy.selectorLabels" -}}
app.kubernetes.io/name: {{ include "cloudemy.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/*
Labels of the release's Pods, whatever their component (used by NetworkPolicies).
Usage: {{ include "cloudemy.releaseSelectorLabels" . }}
*/}}
{{- define "cloudemy.releaseSelectorLabels" -}}
app.kubernetes.io/name: {{ include "cloudemy.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/*
Full metadata labels of one component: the selector labels plus chart, version and manager, then the given extra
labels, then commonLabels (earlier ones win on a clash, so no value can change a selector or a Helm label).
Usage: {{ include "cloudemy.labels" (dict "root" $ "component" "backend") }}
       (optional "extra": a map of labels of this object only)
*/}}
{{- define "cloudemy.labels" -}}
{{- $labels := include "cloudemy.selectorLabels" . | fromYaml -}}
{{- $_ := set $labels "helm.sh/chart" (include "cloudemy.chart" .root) -}}
{{- $_ := set $labels "app.kubernetes.io/part-of" "cloudemy" -}}
{{- $_ := set $labels "app.kubernetes.io/managed-by" .root.Release.Service -}}
{{- with .root.Chart.AppVersion }}
{{- $_ := set $labels "app.kubernetes.io/version" (toString .) -}}
{{- end }}
{{- toYaml (merge $labels (.extra | default dict) (.root.Values.commonLabels | default dict)) -}}
{{- end -}}

{{/*
Labels of one component's Pod template: the selector labels, the given extra labels and commonLabels (the selector
labels always win, so no value can detach Pods from their Services and controllers).
Usage: {{ include "cloudemy.podLabels" (dict "root" $ "component" "backend" "extra" .Values.backend.podLabels) }}
*/}}
{{- define "cloudemy.podLabels" -}}
{{- $selector := include "cloudemy.selectorLabels" . | fromYaml -}}
{{- toYaml (merge $selector (.extra | default dict) (.root.Values.commonLabels | default dict)) -}}
{{- end -}}

{{/*
Metadata annotations of one object: commonAnnotations plus the given extra annotations (the extra ones win).
Renders nothing when both are empty.
Usage: {{- with (include "cloudemy.annotations" (dict "root" $ "extra" .Values.ingress.annotations) | trim) }}
       annotations:
         {{- . | nindent 4 }}
       {{- end }}
*/}}
{{- define "cloudemy.annotations" -}}
{{- $all := merge (dict) (.extra | default dict) (.root.Values.commonAnnotations | default dict) -}}
{{- with $all }}
{{- toYaml . }}
{{- end }}
{{- end -}}

{{/*
The `annotations:` block of an object's metadata (commonAnnotations plus the given extra ones), or nothing.
Usage: {{- with (include "cloudemy.metadataAnnotations" (dict "root" $) | trim) }}{{ . | nindent 2 }}{{- end }}
*/}}
{{- define "cloudemy.metadataAnnotations" -}}
{{- with (include "cloudemy.annotations" . | trim) }}
annotations:
  {{- . | nindent 2 }}
{{- end }}
{{- end -}}
