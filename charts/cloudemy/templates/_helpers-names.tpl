{{/* ---- Names: every resource name derives from the release, so two releases never clash. ---- */}}

{{/*
The chart's name, or nameOverride.
Usage: {{ include "cloudemy.name" . }}
*/}}
{{- define "cloudemy.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
The release-derived prefix of every resource name (fullnameOverride wins; the chart name is not repeated).
Usage: {{ include "cloudemy.fullname" . }}
*/}}
{{- define "cloudemy.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/*
Name of one component's resources: <fullname>-<component>, cut to 63 characters.
Usage: {{ include "cloudemy.componentName" (dict "root" $ "component" "backend") }}
*/}}
{{- define "cloudemy.componentName" -}}
{{- printf "%s-%s" (include "cloudemy.fullname" .root | trunc 50 | trimSuffix "-") .component | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
Chart name and version, as the helm.sh/chart label wants them.
Usage: {{ include "cloudemy.chart" . }}
*/}}
{{- define "cloudemy.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
Name of the ConfigMap that holds the runner Job template (the scheduler mounts it).
Usage: {{ include "cloudemy.runner.jobTemplateName" . }}
*/}}
{{- define "cloudemy.runner.jobTemplateName" -}}
{{- include "cloudemy.componentName" (dict "root" . "component" "runner-job-template") -}}
{{- end -}}

{{/*
Directory the runner Job template ConfigMap is mounted at in the scheduler.
Usage: {{ include "cloudemy.runner.jobTemplateDir" . }}
*/}}
{{- define "cloudemy.runner.jobTemplateDir" -}}
/etc/cloudemy/runner
{{- end -}}

{{/*
Path of the runner Job template file in the scheduler (the value of RUNNER_JOB_TEMPLATE).
Usage: {{ include "cloudemy.runner.jobTemplatePath" . }}
*/}}
{{- define "cloudemy.runner.jobTemplatePath" -}}
{{- printf "%s/job.yaml" (include "cloudemy.runner.jobTemplateDir" .) -}}
{{- end -}}
