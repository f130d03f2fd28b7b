{{/*
Env entries of the LLM budget every runner shares (llm.rateLimit) and of its circuit breaker (llm.breaker): the
runners wait on the budget before each request, open the breaker after LLM_BREAKER_FAILURES failures in a row and
hand an attempt back to the queue at most LLM_REQUEUE_LIMIT times; the scheduler reads the same numbers to hold
dispatch while the budget is booked up or the breaker is open or half-open. One definition, so runners and
scheduler never disagree.
Usage: {{ include "cloudemy.env.llmRateLimit" . | nindent 12 }}
*/}}
{{- define "cloudemy.env.llmRateLimit" -}}
- name: LLM_REQUESTS_PER_MINUTE
  value: {{ .Values.llm.rateLimit.requestsPerMinute | int64 | quote }}
- name: LLM_TOKENS_PER_MINUTE
  value: {{ .Values.llm.rateLimit.tokensPerMinute | int64 | quote }}
- name: LLM_REQUEUE_LIMIT
  value: {{ .Values.llm.rateLimit.requeueLimit | int64 | quote }}
- name: LLM_BREAKER_FAILURES
  value: {{ .Values.llm.breaker.failures | int64 | quote }}
- name: LLM_BREAKER_OPEN_SECONDS
  value: {{ .Values.llm.breaker.openSeconds | quote }}
{{- end -}}
