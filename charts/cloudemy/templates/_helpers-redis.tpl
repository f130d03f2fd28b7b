{{/* ---- The bundled Redis' ACL users: `default` for the backend and the scheduler, a least-privilege user for
     runner Jobs. The init container `acl` writes them to an ACL file from the Secret's files (redis-acl.sh). ---- */}}

{{/*
Name of the Redis user runner Jobs log in as (on the bundled Redis; docs/install.md shows it for external ones).
Usage: {{ include "cloudemy.redis.runnerUser" . }}
*/}}
{{- define "cloudemy.redis.runnerUser" -}}cloudemy-runner{{- end -}}

{{/*
ACL rules of the runner user, after `on` and its password: read payload and assignment hashes, run the LLM budget
and breaker scripts on the llm: keys; no queue, no other key, no pub/sub, no admin command. These are
cloudemy_common.redis_policy.RUNNER_ACL_RULES word for word (tests/chart compares them).
Usage: {{ include "cloudemy.redis.runnerAclRules" . }}
*/}}
{{- define "cloudemy.redis.runnerAclRules" -}}
resetkeys %R~submission:* %R~assignment:* ~llm:* resetchannels -@all +hgetall +hget +get +set +del +hset +expire +time +eval +evalsha +ping +hello +auth +client|setname
{{- end -}}

{{/*
ACL rules of the `default` user, the backend's and the scheduler's (and the probes'): every key and every data
command, no pub/sub (none is used), and none of the admin commands that reconfigure, replicate, save, shut down
or re-permission the server (CONFIG SET, ACL SETUSER, MODULE, REPLICAOF, DEBUG, SHUTDOWN, ...) nor the ones that
wipe it (FLUSHALL, FLUSHDB, SWAPDB). CONFIG GET stays: the start-up check reads maxmemory-policy.
Usage: {{ include "cloudemy.redis.servicesAclRules" . }}
*/}}
{{- define "cloudemy.redis.servicesAclRules" -}}
~* resetchannels +@all -@admin +config|get -flushall -flushdb -swapdb
{{- end -}}

{{/*
Where the init container writes the ACL file and where redis-server reads it (`--aclfile`): an emptyDir.
Usage: {{ include "cloudemy.redis.aclFile" . }}
*/}}
{{- define "cloudemy.redis.aclFile" -}}/etc/redis-acl/users.acl{{- end -}}

{{/*
The init container that writes the ACL file: the Redis image, restricted like every container, reading the two
passwords from the `acl-secrets` volume and writing only their hashes to the `acl` emptyDir.
Usage: {{ include "cloudemy.redis.aclInitContainer" . | nindent 8 }}
*/}}
{{- define "cloudemy.redis.aclInitContainer" -}}
- name: acl
  image: {{ include "cloudemy.image" (dict "image" .Values.redis.image "root" .) }}
  imagePullPolicy: {{ .Values.redis.image.pullPolicy }}
  command:
    - sh
    - -c
    - |
      {{- .Files.Get "files/redis-acl.sh" | trim | nindent 6 }}
  env:
    - name: ACL_SECRETS_DIR
      value: /run/secrets/redis
    - name: ACL_FILE
      value: {{ include "cloudemy.redis.aclFile" . }}
    - name: RUNNER_USER
      value: {{ include "cloudemy.redis.runnerUser" . | quote }}
    - name: RUNNER_ACL_RULES
      value: {{ include "cloudemy.redis.runnerAclRules" . | quote }}
    - name: SERVICES_ACL_RULES
      value: {{ include "cloudemy.redis.servicesAclRules" . | quote }}
  resources:
    {{- toYaml .Values.redis.aclInit.resources | nindent 4 }}
  securityContext:
    {{- include "cloudemy.containerSecurityContext" (dict "root" . "context" .Values.containerSecurityContext) | nindent 4 }}
  volumeMounts:
    - name: acl-secrets
      mountPath: /run/secrets/redis
      readOnly: true
    - name: acl
      mountPath: {{ include "cloudemy.redis.aclFile" . | dir }}
    - name: tmp
      mountPath: /tmp
{{- end -}}

{{/*
The volumes of the ACL file: the two passwords (each from the Secret that holds it: generated, given in values,
or secrets.existingSecret) as files readable by the Redis user's group, and the emptyDir the file is written to.
Usage: {{ include "cloudemy.redis.aclVolumes" . | nindent 8 }}
*/}}
{{- define "cloudemy.redis.aclVolumes" -}}
- name: acl-secrets
  projected:
    defaultMode: 0440
    sources:
      {{- range $key := list "REDIS_PASSWORD" "REDIS_RUNNER_PASSWORD" }}
      - secret:
          name: {{ include "cloudemy.secretNameFor" (dict "root" $ "key" $key) }}
          items:
            - key: {{ $key }}
              path: {{ $key }}
      {{- end }}
- name: acl
  emptyDir:
    medium: Memory
    sizeLimit: 1Mi
{{- end -}}

{{/*
Where runner Jobs find their Redis URL on an external Redis, as a YAML map (name, key of a Secret), or nothing
when none is configured (runners then use the services' REDIS_URL, and NOTES.txt warns).
Usage: {{ include "cloudemy.redis.externalRunnerUrlRef" . | fromYaml }}
*/}}
{{- define "cloudemy.redis.externalRunnerUrlRef" -}}
{{- $r := .Values.externalRedis -}}
{{- if and $r.existingSecret $r.runnerExistingSecretKey -}}
name: {{ $r.existingSecret }}
key: {{ $r.runnerExistingSecretKey }}
{{- else if and (not $r.existingSecret) .Values.secrets.existingSecret $r.runnerExistingSecretKey -}}
name: {{ .Values.secrets.existingSecret }}
key: {{ $r.runnerExistingSecretKey }}
{{- else if and (not $r.existingSecret) (include "cloudemy.createSecret" .) $r.runnerUrl -}}
name: {{ include "cloudemy.fullname" . }}
key: REDIS_RUNNER_URL
{{- end -}}
{{- end -}}
