{{/* ---- Pieces shared by Pod specs ---- */}}

{{/*
Scheduling fields of a Pod spec (nodeSelector, tolerations, affinity, spread, priority) from one component's values.
A topology spread constraint without a labelSelector gets the component's selector labels, so values never need
to spell the release name; constraints are templated otherwise.
Usage: {{- with (include "cloudemy.podScheduling" (dict "root" $ "component" "backend" "values" .Values.backend) | trim) }}{{ . | nindent 6 }}{{- end }}
*/}}
{{- define "cloudemy.podScheduling" -}}
{{- $root := .root -}}
{{- $selector := dict "matchLabels" (include "cloudemy.selectorLabels" (dict "root" .root "component" .component) | fromYaml) -}}
{{- with .values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .values.affinity }}
affinity:
  {{- include "cloudemy.tplvalues" (dict "value" . "root" $root) | nindent 2 }}
{{- end }}
{{- with .values.topologySpreadConstraints }}
{{- $constraints := list }}
{{- range . }}
{{- $constraint := deepCopy . }}
{{- if not (hasKey $constraint "labelSelector") }}
{{- $_ := set $constraint "labelSelector" $selector }}
{{- end }}
{{- $constraints = append $constraints $constraint }}
{{- end }}
topologySpreadConstraints:
  {{- include "cloudemy.tplvalues" (dict "value" $constraints "root" $root) | nindent 2 }}
{{- end }}
{{- with .values.priorityClassName }}
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

{{/*
A value that may hold templates (extraEnv, extraVolumes, sidecars, ...), rendered against the release: strings are
rendered as they are, anything else as YAML first. So `{{ .Release.Name }}` or a helper may appear in values.
Usage: {{ include "cloudemy.tplvalues" (dict "value" .Values.backend.extraVolumes "root" $) | nindent 8 }}
*/}}
{{- define "cloudemy.tplvalues" -}}
{{- if typeIs "string" .value -}}
{{- tpl .value .root -}}
{{- else -}}
{{- tpl (toYaml .value) .root -}}
{{- end -}}
{{- end -}}

{{/*
Metadata of one component's Pod template: labels (selector labels, commonLabels, the component's podLabels) and
annotations (the given ones such as checksums, commonAnnotations, the component's podAnnotations).
Usage: {{ include "cloudemy.podMetadata" (dict "root" $ "component" "backend" "values" .Values.backend "annotations" (dict)) | nindent 4 }}
*/}}
{{- define "cloudemy.podMetadata" -}}
labels:
  {{- include "cloudemy.podLabels" (dict "root" .root "component" .component "extra" .values.podLabels) | nindent 2 }}
{{- $annotations := merge (dict) (.values.podAnnotations | default dict) (.annotations | default dict) }}
{{- with (include "cloudemy.annotations" (dict "root" .root "extra" $annotations) | trim) }}
annotations:
  {{- . | nindent 2 }}
{{- end }}
{{- end -}}

{{/*
The initContainers block of a Pod spec from one component's values, or nothing.
Usage: {{- with (include "cloudemy.initContainers" (dict "root" $ "values" .Values.backend) | trim) }}{{ . | nindent 6 }}{{- end }}
*/}}
{{- define "cloudemy.initContainers" -}}
{{- with .values.initContainers }}
initContainers:
  {{- include "cloudemy.tplvalues" (dict "value" . "root" $.root) | nindent 2 }}
{{- end }}
{{- end -}}

{{/*
The env entries of one component's extraEnv, and its envFrom block (extraEnvFrom), each or nothing.
Usage: {{- with (include "cloudemy.extraEnv" (dict "root" $ "values" .Values.backend) | trim) }}{{ . | nindent 12 }}{{- end }}
       {{- with (include "cloudemy.envFrom" (dict "root" $ "values" .Values.backend) | trim) }}{{ . | nindent 10 }}{{- end }}
*/}}
{{- define "cloudemy.extraEnv" -}}
{{- with .values.extraEnv }}
{{- include "cloudemy.tplvalues" (dict "value" . "root" $.root) }}
{{- end }}
{{- end -}}

{{- define "cloudemy.envFrom" -}}
{{- with .values.extraEnvFrom }}
envFrom:
  {{- include "cloudemy.tplvalues" (dict "value" . "root" $.root) | nindent 2 }}
{{- end }}
{{- end -}}

{{/*
One component's extra list entries (extraVolumeMounts, extraVolumes or sidecars), to append to a list, or nothing.
Usage: {{- with (include "cloudemy.extraList" (dict "root" $ "value" .Values.backend.extraVolumes) | trim) }}{{ . | nindent 8 }}{{- end }}
*/}}
{{- define "cloudemy.extraList" -}}
{{- with .value }}
{{- include "cloudemy.tplvalues" (dict "value" . "root" $.root) }}
{{- end }}
{{- end -}}

{{/*
A PodDisruptionBudget for one component, when <component>.pdb.enabled.
Usage: {{ include "cloudemy.pdb" (dict "root" $ "component" "backend" "values" .Values.backend) }}
*/}}
{{- define "cloudemy.pdb" -}}
{{- if .values.pdb.enabled }}
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: {{ include "cloudemy.componentName" (dict "root" .root "component" .component) }}
  namespace: {{ .root.Release.Namespace }}
  labels:
    {{- include "cloudemy.labels" (dict "root" .root "component" .component) | nindent 4 }}
  {{- with (include "cloudemy.metadataAnnotations" (dict "root" .root) | trim) }}{{ . | nindent 2 }}{{- end }}
spec:
  maxUnavailable: {{ .values.pdb.maxUnavailable }}
  selector:
    matchLabels:
      {{- include "cloudemy.selectorLabels" (dict "root" .root "component" .component) | nindent 6 }}
{{- end }}
{{- end -}}

{{/*
Name of one component's ServiceAccount: <component>.serviceAccount.name, else <fullname>-<component> when the chart
creates it, else `default`.
Usage: {{ include "cloudemy.serviceAccountName" (dict "root" $ "component" "backend" "values" .Values.backend) }}
*/}}
{{- define "cloudemy.serviceAccountName" -}}
{{- if .values.serviceAccount.create -}}
{{- .values.serviceAccount.name | default (include "cloudemy.componentName" (dict "root" .root "component" .component)) -}}
{{- else -}}
{{- .values.serviceAccount.name | default "default" -}}
{{- end -}}
{{- end -}}

{{/*
One component's ServiceAccount, when <component>.serviceAccount.create; `automount` says whether its token is
mounted (only the scheduler's is).
Usage: {{ include "cloudemy.serviceAccount" (dict "root" $ "component" "backend" "values" .Values.backend "automount" false) }}
*/}}
{{- define "cloudemy.serviceAccount" -}}
{{- if .values.serviceAccount.create }}
apiVersion: v1
kind: ServiceAccount
metadata:
  name: {{ include "cloudemy.serviceAccountName" . }}
  namespace: {{ .root.Release.Namespace }}
  labels:
    {{- include "cloudemy.labels" (dict "root" .root "component" .component) | nindent 4 }}
  {{- with (include "cloudemy.metadataAnnotations" (dict "root" .root "extra" .values.serviceAccount.annotations) | trim) }}{{ . | nindent 2 }}{{- end }}
automountServiceAccountToken: {{ .automount }}
{{- end }}
{{- end -}}
