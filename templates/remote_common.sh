# credpush remote prelude, put before each of credpush's remote scripts (the writer, the status probe).
# Builtins only: each step here costs no process.
nl='
'
# absolute PATH: sets $abs to PATH with a leading ~ or ~/ resolved against $HOME, the way Ansible's modules
# resolve it (no command substitution, so no fork).
absolute() {
  case $1 in
    "~") abs=$HOME ;;
    "~/"*) abs=$HOME/${1#"~/"} ;;
    *) abs=$1 ;;
  esac
}
# The answer goes between two marker lines that carry the caller's nonce, so whatever a login script prints
# before or after it (a .bashrc echo, ~/.ssh/rc, a MOTD) is told apart from it. The leading newline starts the
# marker on a line of its own even after noise without one.
begun=
begin() {
  [ -n "$begun" ] || printf '\ncredpush-reply %s\n' "$nonce"
  begun=1
}
end() { printf 'credpush-end %s\n' "$nonce"; }
