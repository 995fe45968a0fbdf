# credpush remote prelude, put before each of credpush's remote scripts (the writer, the status probe).
# absolute PATH: PATH with a leading ~ or ~/ resolved against $HOME, the way Ansible's modules resolve it.
absolute() {
  case $1 in
    "~") printf '%s' "$HOME" ;;
    "~/"*) printf '%s' "$HOME/${1#"~/"}" ;;
    *) printf '%s' "$1" ;;
  esac
}
