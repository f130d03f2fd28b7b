{{/* ---- Platform compatibility: security contexts adapted to OpenShift's restricted-v2 SCC. ---- */}}

{{/*
True (non-empty) when security contexts are adapted for OpenShift: global.compatibility.openshift.adaptSecurityContext
is "force", or "auto" and the cluster serves security.openshift.io/v1 (OpenShift assigns each namespace its own
UID range, so fixed UIDs, GIDs and fsGroup would be refused).
Usage: {{ if include "cloudemy.openshift.adapt" . }}...{{ end }}
*/}}
{{- define "cloudemy.openshift.adapt" -}}
{{- $mode := .Values.global.compatibility.openshift.adaptSecurityContext -}}
{{- if or (eq $mode "force") (and (eq $mode "auto") (.Capabilities.APIVersions.Has "security.openshift.io/v1")) -}}
true
{{- end -}}
{{- end -}}

{{/*
A Pod securityContext: the given one, without runAsUser, runAsGroup and fsGroup (and fsGroupChangePolicy, which
needs fsGroup) when adapting for OpenShift.
Usage: {{ include "cloudemy.podSecurityContext" (dict "root" $ "context" .Values.podSecurityContext) | nindent 8 }}
*/}}
{{- define "cloudemy.podSecurityContext" -}}
{{- $context := deepCopy (.context | default dict) -}}
{{- if include "cloudemy.openshift.adapt" .root -}}
{{- $context = omit $context "runAsUser" "runAsGroup" "fsGroup" "fsGroupChangePolicy" -}}
{{- end -}}
{{- toYaml $context -}}
{{- end -}}

{{/*
A container securityContext: the given one, without runAsUser and runAsGroup when adapting for OpenShift.
Usage: {{ include "cloudemy.containerSecurityContext" (dict "root" $ "context" .Values.containerSecurityContext) | nindent 12 }}
*/}}
{{- define "cloudemy.containerSecurityContext" -}}
{{- $context := deepCopy (.context | default dict) -}}
{{- if include "cloudemy.openshift.adapt" .root -}}
{{- $context = omit $context "runAsUser" "runAsGroup" -}}
{{- end -}}
{{- toYaml $context -}}
{{- end -}}
