# Shared by scripts/demo and scripts/bench (sourced, not run): moto's STS with auth enforced, and loopback sshd
# hosts running as the unprivileged user credpush-it. The caller sets VENV and WORK and traps `fleet_stop`.

HOST_USER=credpush-it
FLEET_PIDS=()

fleet_stop() {
  for pid in "${FLEET_PIDS[@]}"; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
  rm -rf "$WORK"
}

free_port() { "$VENV/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# Starts moto on a free port, builds the test IAM world, enforces auth. Sets ENDPOINT and WORLD.
moto_start() {
  local port
  port="$(free_port)"
  ENDPOINT="http://127.0.0.1:$port"
  # The recorder (off until scripts/bench starts it) lets the benchmark count STS calls by action.
  env -i PATH=/usr/bin:/bin HOME="$WORK" MOTO_RECORDER_FILEPATH="$WORK/moto-recording.jsonl" "$VENV/bin/moto_server" -H 127.0.0.1 -p "$port" >"$WORK/moto.log" 2>&1 &
  FLEET_PIDS+=($!)
  for _ in $(seq 200); do curl -fs "$ENDPOINT/moto-api/" >/dev/null 2>&1 && break; sleep 0.1; done
  WORLD="$(env -i HOME="$WORK" "$VENV/bin/python" tests/support/moto_world.py "$ENDPOINT")"
  curl -fs -X POST -H "Content-Type: text/plain" --data 0 "$ENDPOINT/moto-api/reset-auth" >/dev/null
}

# world_field users ci arn -> prints WORLD["users"]["ci"]["arn"]
world_field() {
  "$VENV/bin/python" -c 'import json,sys
d = json.loads(sys.argv[1])
for key in sys.argv[2:]: d = d[key]
print(d)' "$WORLD" "$@"
}

# Client key, known_hosts, ssh config and an empty inventory under $WORK.
fleet_init() {
  chmod 755 "$WORK"
  ssh-keygen -q -t ed25519 -N '' -C credpush-fleet -f "$WORK/client_key"
  : >"$WORK/known_hosts"
  printf '[onprem]\n' >"$WORK/hosts.ini"
  cat >"$WORK/ssh_config" <<CFG
UserKnownHostsFile $WORK/known_hosts
GlobalKnownHostsFile /dev/null
IdentityFile $WORK/client_key
IdentitiesOnly yes
CFG
}

# fleet_add_host NAME: an sshd on a free loopback port with its own host key and HOME, added to known_hosts and
# the inventory.
fleet_add_host() {
  local name="$1" h="$WORK/$1" p
  mkdir -p "$h/home"
  ssh-keygen -q -t ed25519 -N '' -C "$name" -f "$h/host_key"
  cp "$WORK/client_key.pub" "$h/authorized_keys"
  p="$(free_port)"
  cat >"$h/sshd_config" <<CFG
Port $p
ListenAddress 127.0.0.1
HostKey $h/host_key
AuthorizedKeysFile $h/authorized_keys
PidFile none
UsePAM no
StrictModes no
PasswordAuthentication no
KbdInteractiveAuthentication no
MaxStartups 200
SetEnv HOME=$h/home
Subsystem sftp internal-sftp
PermitTTY no
CFG
  chown -R "$HOST_USER" "$h"
  # setpriv execs sshd itself as the user, so $! is sshd's PID and fleet_stop's signal reaches it.
  setpriv --reuid="$HOST_USER" --regid="$HOST_USER" --init-groups /usr/sbin/sshd -D -f "$h/sshd_config" -E "$h/sshd.log" 2>/dev/null &
  FLEET_PIDS+=($!)
  echo "[127.0.0.1]:$p $(cut -d' ' -f1,2 "$h/host_key.pub")" >>"$WORK/known_hosts"
  echo "$name ansible_host=127.0.0.1 ansible_port=$p ansible_user=$HOST_USER" >>"$WORK/hosts.ini"
}

# Waits until every host in the inventory answers with an SSH banner.
fleet_wait() {
  local p
  for p in $(sed -n 's/.*ansible_port=\([0-9]*\).*/\1/p' "$WORK/hosts.ini"); do
    for _ in $(seq 100); do
      (exec 3<>"/dev/tcp/127.0.0.1/$p" && head -c 4 <&3 | grep -q SSH-) 2>/dev/null && break
      sleep 0.05
    done
  done
}

# The caller's environment for credpush: moto endpoint and the CI user's keys, nothing from this machine.
credpush_env() {
  env -i PATH="$PATH" HOME="$WORK" AWS_EC2_METADATA_DISABLED=true AWS_REGION=us-east-1 AWS_ENDPOINT_URL_STS="$ENDPOINT" \
    AWS_ACCESS_KEY_ID="$(world_field users ci access_key_id)" \
    AWS_SECRET_ACCESS_KEY="$(world_field users ci secret_access_key)" "$@"
}
