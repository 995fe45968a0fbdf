# credpush remote reader. Runs as `sh -c SCRIPT credpush PATH`. Prints the absolute path, then the file's mode
# (octal), then its content. Exits 3, after the path line, when the file does not exist: the caller creates it.
set -eu
target=$1
case $target in
  "~") target=$HOME ;;
  "~/"*) target=$HOME/${target#"~/"} ;;
esac
printf '%s\n' "$target"
[ -e "$target" ] || exit 3
stat -c '%a' -- "$target"
cat -- "$target"
