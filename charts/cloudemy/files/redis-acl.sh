# Writes the bundled Redis' ACL file (the init container `acl` of the Redis StatefulSet runs this with sh).
# The passwords come from files of a Secret volume (ACL_SECRETS_DIR) and are written only as SHA-256 hashes
# (`#<hex>`), so the file in the emptyDir holds no password; the rules come from the env (chart templates).
#   default            the backend and the scheduler (SERVICES_ACL_RULES), password REDIS_PASSWORD
#   $RUNNER_USER       runner Jobs (RUNNER_ACL_RULES: read payloads, use the LLM budget), REDIS_RUNNER_PASSWORD
set -eu
umask 077
password_hash() {
  if [ ! -s "$ACL_SECRETS_DIR/$1" ]; then
    echo "redis-acl: the Secret key $1 is missing or empty" >&2
    exit 1
  fi
  sha256sum < "$ACL_SECRETS_DIR/$1" | cut -d ' ' -f 1
}
services_hash=$(password_hash REDIS_PASSWORD)
runner_hash=$(password_hash REDIS_RUNNER_PASSWORD)
printf 'user default on #%s %s\nuser %s on #%s %s\n' \
  "$services_hash" "$SERVICES_ACL_RULES" "$RUNNER_USER" "$runner_hash" "$RUNNER_ACL_RULES" > "$ACL_FILE.new"
mv "$ACL_FILE.new" "$ACL_FILE"
echo "redis-acl: wrote users default and $RUNNER_USER to $ACL_FILE"
