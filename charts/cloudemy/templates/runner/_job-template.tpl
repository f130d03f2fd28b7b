{{/*
The runner Job's whole deadline in seconds: the grading time (runner.job.activeDeadlineSeconds, the runner's
JOB_DEADLINE_SECONDS, counted from the runner's start) plus the time the cluster may take to start the runner
(runner.job.startupAllowanceSeconds: scheduling, a node autoscale, the image pull). Kubernetes counts a Job's
activeDeadlineSeconds from the Job's start, Pending time included; the backend's sweep waits for the same span.
Usage: {{ include "cloudemy.runner.jobDeadlineSeconds" . }}
*/}}
{{- define "cloudemy.runner.jobDeadlineSeconds" -}}
{{- add .Values.runner.job.activeDeadlineSeconds .Values.runner.job.startupAllowanceSeconds -}}
{{- end -}}

{{/*
The runner Job template: one complete batch/v1 Job (metadata.name runner-template). The scheduler reads it from
RUNNER_JOB_TEMPLATE and stamps only the name, the submission labels and SUBMISSION_ID / INTERNAL_RESULT_TOKEN /
JOB_CREATED_AT / JOB_ACTIVE_DEADLINE_SECONDS on the `runner` container; everything else comes from here.
Usage: {{ include "cloudemy.runner.job" . }}
*/}}
{{- define "cloudemy.runner.job" -}}
{{- $component := "runner" -}}
apiVersion: batch/v1
kind: Job
metadata:
  name: runner-template
  namespace: {{ .Release.Namespace }}
  labels:
    {{- $labels := include "cloudemy.selectorLabels" (dict "root" . "component" $component) | fromYaml }}
    {{- $_ := set $labels "app.kubernetes.io/part-of" "cloudemy" }}
    {{- $_ := set $labels "app.kubernetes.io/version" (toString .Chart.AppVersion) }}
    {{- toYaml (merge $labels (.Values.runner.extraLabels | default dict) (.Values.commonLabels | default dict)) | nindent 4 }}
  {{- with (include "cloudemy.metadataAnnotations" (dict "root" .) | trim) }}{{ . | nindent 2 }}{{- end }}
spec:
  backoffLimit: {{ .Values.runner.job.backoffLimit }}
  # Grading time plus the startup allowance: Pending time (a node autoscale, an image pull) does not cut grading.
  activeDeadlineSeconds: {{ include "cloudemy.runner.jobDeadlineSeconds" . }}
  ttlSecondsAfterFinished: {{ .Values.runner.job.ttlSecondsAfterFinished }}
  # An eviction, preemption or node drain is the cluster's doing: the pod is replaced without using up
  # backoffLimit. A runner that exited 1 (its result could not be posted) or 2 (configuration error) must not
  # run again: a second run would grade, and pay for the LLM, a second time.
  podFailurePolicy:
    rules:
      - action: Ignore
        onPodConditions:
          - type: DisruptionTarget
            status: "True"
      - action: FailJob
        onExitCodes:
          containerName: runner
          operator: In
          values: [1, 2]
  template:
    metadata:
      {{- $pod := dict "podLabels" .Values.runner.extraLabels "podAnnotations" .Values.runner.podAnnotations }}
      {{- include "cloudemy.podMetadata" (dict "root" . "component" $component "values" $pod) | nindent 6 }}
    spec:
      restartPolicy: Never
      serviceAccountName: {{ include "cloudemy.serviceAccountName" (dict "root" . "component" $component "values" .Values.runner) }}
      automountServiceAccountToken: false
      enableServiceLinks: false
      {{- with .Values.runner.runtimeClassName }}
      runtimeClassName: {{ . }}
      {{- end }}
      {{- with (include "cloudemy.imagePullSecrets" . | trim) }}{{ . | nindent 6 }}{{- end }}
      securityContext:
        {{- include "cloudemy.podSecurityContext" (dict "root" . "context" .Values.podSecurityContext) | nindent 8 }}
      {{- with (include "cloudemy.podScheduling" (dict "root" . "component" $component "values" .Values.runner) | trim) }}{{ . | nindent 6 }}{{- end }}
      {{- with (include "cloudemy.initContainers" (dict "root" . "values" .Values.runner) | trim) }}{{ . | nindent 6 }}{{- end }}
      containers:
        - name: runner
          image: {{ include "cloudemy.image" (dict "image" .Values.runner.image "root" .) }}
          imagePullPolicy: {{ .Values.runner.image.pullPolicy }}
          env:
            {{- include "cloudemy.env.redisRunner" . | nindent 12 }}
            - name: BACKEND_INTERNAL_URL
              value: {{ include "cloudemy.backend.internalUrl" . | quote }}
            {{- include "cloudemy.secretEnv" (dict "root" . "name" "LLM_API_KEY") | nindent 12 }}
            - name: LLM_MODEL
              value: {{ .Values.llm.model | quote }}
            - name: LLM_BASE_URL
              value: {{ .Values.llm.baseUrl | quote }}
            - name: LLM_TIMEOUT_SECONDS
              value: {{ .Values.llm.timeoutSeconds | quote }}
            - name: LLM_SAMPLES
              value: {{ .Values.llm.samples | int64 | quote }}
            - name: LLM_MAX_SPREAD
              value: {{ .Values.llm.maxSpread | quote }}
            {{- include "cloudemy.env.llmRateLimit" . | nindent 12 }}
            - name: JOB_DEADLINE_SECONDS
              value: {{ .Values.runner.job.activeDeadlineSeconds | quote }}
            - name: LOG_LEVEL
              value: {{ .Values.logLevel | quote }}
            {{- with (include "cloudemy.extraEnv" (dict "root" . "values" .Values.runner) | trim) }}{{ . | nindent 12 }}{{- end }}
          {{- with (include "cloudemy.envFrom" (dict "root" . "values" .Values.runner) | trim) }}{{ . | nindent 10 }}{{- end }}
          resources:
            {{- toYaml .Values.runner.resources | nindent 12 }}
          securityContext:
            {{- include "cloudemy.containerSecurityContext" (dict "root" . "context" .Values.containerSecurityContext) | nindent 12 }}
          volumeMounts:
            - name: tmp
              mountPath: /tmp
            {{- with (include "cloudemy.extraList" (dict "root" . "value" .Values.runner.extraVolumeMounts) | trim) }}{{ . | nindent 12 }}{{- end }}
      volumes:
        {{- include "cloudemy.tmpVolume" . | nindent 8 }}
        {{- with (include "cloudemy.extraList" (dict "root" . "value" .Values.runner.extraVolumes) | trim) }}{{ . | nindent 8 }}{{- end }}
{{- end -}}
