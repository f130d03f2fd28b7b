{{/* ---- The secret-init hook: creates the generated Secret once, before anything that reads it. ---- */}}

{{/*
Name of the secret-init hook's objects (ServiceAccount, Role, RoleBinding, ConfigMap, Job).
Usage: {{ include "cloudemy.secretInit.name" . }}
*/}}
{{- define "cloudemy.secretInit.name" -}}
{{- include "cloudemy.componentName" (dict "root" . "component" "secret-init") -}}
{{- end -}}

{{/*
Metadata of one secret-init hook object: name, namespace, labels and the hook annotations. The RBAC objects and
the script's ConfigMap run first (weight -10), the Job after them (weight -5); Helm deletes them all once the Job
succeeded (and any leftover before the next run). Argo CD maps these annotations to PreSync hooks.
Usage: {{ include "cloudemy.secretInit.metadata" (dict "root" $ "weight" -10) | nindent 2 }}
*/}}
{{- define "cloudemy.secretInit.metadata" -}}
name: {{ include "cloudemy.secretInit.name" .root }}
namespace: {{ .root.Release.Namespace }}
labels:
  {{- include "cloudemy.labels" (dict "root" .root "component" "secret-init") | nindent 2 }}
annotations:
  {{- $hook := dict "helm.sh/hook" "pre-install,pre-upgrade" "helm.sh/hook-weight" (toString .weight) "helm.sh/hook-delete-policy" "before-hook-creation,hook-succeeded" }}
  {{- include "cloudemy.annotations" (dict "root" .root "extra" $hook) | nindent 2 }}
{{- end -}}

{{/*
Labels of the generated Secret. It is created by the hook, not by Helm, so no `app.kubernetes.io/instance` label:
GitOps tools that track objects by that label (Argo CD's default before 3.0) never see it as extraneous.
Usage: {{ include "cloudemy.secretInit.secretLabels" . | fromYaml | toJson }}
*/}}
{{- define "cloudemy.secretInit.secretLabels" -}}
{{- $labels := dict "app.kubernetes.io/name" (include "cloudemy.name" .) "app.kubernetes.io/component" "generated-secret" -}}
{{- $_ := set $labels "app.kubernetes.io/part-of" "cloudemy" -}}
{{- $_ := set $labels "cloudemy.io/release" .Release.Name -}}
{{- toYaml (merge $labels (omit (.Values.commonLabels | default dict) "app.kubernetes.io/instance")) -}}
{{- end -}}
