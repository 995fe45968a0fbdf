# credpush status probe. Runs as `sh -c SCRIPT credpush TARGET CONFIG NONCE`; needs only a POSIX shell and
# coreutils. The answer is framed (see the prelude), so login noise around it is ignored.
# Reports on TARGET (the credential document) and CONFIG (the AWS config file) without ever printing a secret:
# mode, owner, size, sha256, whether each field has the right shape, the Expiration, the last 4 characters of the
# access key id, and the credential_process lines of the credpush-managed profile blocks.
set -u
nonce=$3
absolute "$1"
target=$abs
absolute "$2"
config=$abs
begin
printf 'path %s\n' "$target"
printf 'user %s\n' "$(id -u)"
if [ -f "$target" ] && [ -r "$target" ]; then
  printf 'exists yes\n'
  stat -c 'mode %a
owner %u %U
size %s' -- "$target"
  sum=$(sha256sum < "$target")
  printf 'sha256 %s\n' "${sum%% *}"
  # Shape checks on the one-line document; only yes/no, the Expiration and 4 characters of the key id leave.
  doc=$(head -c 65536 -- "$target")
  shape() { printf '%s' "$doc" | grep -Eq "$1" && printf 'yes' || printf 'no'; }
  printf 'field version %s\n' "$(shape '"Version": *1[,}]')"
  printf 'field keyid %s\n' "$(shape '"AccessKeyId": *"[A-Za-z0-9]+"')"
  printf 'field secret %s\n' "$(shape '"SecretAccessKey": *"[^"]+"')"
  printf 'field token %s\n' "$(shape '"SessionToken": *"[^"]+"')"
  printf 'field closed %s\n' "$(shape '}[[:space:]]*$')"
  exp=$(printf '%s' "$doc" | sed -n 's/.*"Expiration": *"\([0-9TZ:.+-]*\)".*/\1/p' | head -n 1)
  printf 'expiration %s\n' "$exp"
  key=$(printf '%s' "$doc" | sed -n 's/.*"AccessKeyId": *"[A-Za-z0-9]*\([A-Za-z0-9]\{4\}\)".*/\1/p' | head -n 1)
  printf 'keyid %s\n' "$key"
elif [ -e "$target" ]; then
  printf 'exists unreadable\n'
  stat -c 'mode %a
owner %u %U' -- "$target"
else
  printf 'exists no\n'
fi
printf 'config %s\n' "$config"
if [ -r "$config" ]; then
  # credential_process lines inside managed blocks, each after its block's name.
  sed -n -e 's/^# >>> credpush managed profile "\(.*\)" >>>$/profile \1/p' \
         -e 's/^credential_process *= *\(.*\)$/process \1/p' -- "$config"
fi
end
